package auditcmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/cli/clitest"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store/redistest"
)

func runAudit(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	res := clitest.Run(ctx, Name, Build, args...)
	return res.Out + res.Err, res.Error
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
	// Exit status 1: nothing matched; 2: a usage or read error.
	for _, bad := range []struct {
		args []string
		code int
	}{
		{[]string{"find", "--file", path, "--order", "nope"}, 1},
		{[]string{"find", "--file", path}, 2},                                         // nothing to find
		{[]string{"find", "--order", "x"}, 2},                                         // no sink
		{[]string{"find", "--order", "x", "--file", path, "--redis", "redis://x"}, 2}, // two sinks
		{[]string{"find", "--order", "x", "--file", path + ".none"}, 2},
		{[]string{"tail", "--file", path, "--reason", "nonsense"}, 2},
		{[]string{"tail", "--file", path, "--outcome", "nonsense"}, 2},
		{[]string{"tail", "--file", path, "-n", "-1"}, 2},
	} {
		if res := clitest.Run(context.Background(), Name, Build, bad.args...); res.Code != bad.code || res.Error == nil {
			t.Errorf("%v: exit %d (%v), want %d:\n%s", bad.args, res.Code, res.Error, bad.code, res.Out)
		}
	}
}
