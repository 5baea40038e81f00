package caddymodule_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store/redistest"
)

func runAudit(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	reg, ok := caddycmd.Commands()["audit"]
	if !ok {
		t.Fatal("audit command not registered")
	}
	root := &cobra.Command{Use: "audit", SilenceUsage: true, SilenceErrors: true}
	reg.CobraFunc(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func auditRecords() []*audit.Record {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(evt, order string, o audit.Outcome, c reason.Code) *audit.Record {
		return &audit.Record{Time: at, Provider: "alipay", EventID: evt, OutTradeNo: order,
			TransactionID: "txn-" + evt, Amount: 1234, Currency: "CNY", Status: "paid", Outcome: o, Reason: c}
	}
	return []*audit.Record{
		mk("e1", "ORDER-1", audit.Rejected, reason.BadSignature),
		mk("e2", "ORDER-2", audit.Forwarded, reason.Forwarded),
		mk("e3", "ORDER-1", audit.Forwarded, reason.Forwarded),
	}
}

// The operator's question, "what became of order X", from the file sink
// (one record in a rotated file) and from the Redis stream.
func TestAuditFindBothSinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	recs := auditRecords()
	for i, r := range recs {
		target := path
		if i == 0 {
			target = path + ".1" // rotated away
		}
		s, err := audit.NewFileSink(target)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(context.Background(), r)
		s.Close()
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path+".1", old, old)

	srv := redistest.Start(t)
	client := srv.NewClient(t)
	sink := audit.NewRedisStreamSink(client, "pg:audit")
	for _, r := range recs {
		if err := sink.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}

	for name, src := range map[string][]string{
		"file":  {"--file", path},
		"redis": {"--redis", srv.URL(), "--stream", "pg:audit"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runAudit(t, context.Background(), append([]string{"find", "--order", "ORDER-1"}, src...)...)
			if err != nil {
				t.Fatalf("find: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") ||
				!strings.Contains(lines[1], "bad_signature") || !strings.Contains(lines[2], "forwarded") ||
				!strings.Contains(lines[2], "12.34 CNY") || !strings.Contains(lines[2], "txn-e3") {
				t.Fatalf("find --order ORDER-1:\n%s", out)
			}
			out, err = runAudit(t, context.Background(), append([]string{"find", "--transaction", "txn-e2", "--json"}, src...)...)
			if err != nil {
				t.Fatal(err)
			}
			r, err := audit.Decode([]byte(out))
			if err != nil || r.EventID != "e2" || strings.Count(out, "\n") != 1 {
				t.Fatalf("find --json: %q %v", out, err)
			}
			if out, err := runAudit(t, context.Background(), append([]string{"find", "--event", "nope"}, src...)...); err == nil {
				t.Fatalf("find of nothing succeeded:\n%s", out)
			}
			out, err = runAudit(t, context.Background(), append([]string{"tail", "-n", "5", "--outcome", "forwarded"}, src...)...)
			if err != nil || strings.Count(out, "\n") != 3 || strings.Contains(out, "bad_signature") {
				t.Fatalf("tail --outcome forwarded: %v\n%s", err, out)
			}
		})
	}
	for _, bad := range [][]string{
		{"find", "--file", path}, // nothing to find
		{"find", "--order", "x"}, // no sink
		{"find", "--order", "x", "--file", path, "--redis", "redis://x"}, // two sinks
		{"tail", "--file", path, "--reason", "nonsense"},
		{"tail", "--file", path, "--outcome", "nonsense"},
	} {
		if out, err := runAudit(t, context.Background(), bad...); err == nil {
			t.Errorf("%v: accepted:\n%s", bad, out)
		}
	}
}
