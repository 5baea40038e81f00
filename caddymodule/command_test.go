package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sim"
)

// runSim runs `payguard sim <args>` through the command as registered with
// Caddy, and returns stdout, stderr and the error.
func runSim(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	reg, ok := caddycmd.Commands()["sim"]
	if !ok {
		t.Fatal("sim command not registered")
	}
	root := &cobra.Command{Use: "sim", SilenceUsage: true, SilenceErrors: true}
	reg.CobraFunc(root)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestSimKeysCommandOutputAdapts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh keys") // a space: the lines must quote it
	out, errOut, err := runSim(t, context.Background(), "keys", "--dir", dir, "--sandbox", "http://127.0.0.1:19002")
	if err != nil {
		t.Fatalf("sim keys: %v\n%s", err, errOut)
	}
	// Every provider's keys were written and load back; private material
	// is readable by the owner only.
	if _, err := sim.Load(dir, provider.SandboxOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no key files written: %v", err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fi, _ := e.Info()
		if strings.Contains(string(b), "PRIVATE KEY") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s holds a private key with mode %v", e.Name(), fi.Mode().Perm())
		}
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Fatal("the printed lines hold a private key")
	}

	// The printed lines adapt inside a site block, with the sidecar's keys
	// and the sandbox's endpoint where they belong.
	cfg, err := simAdapt(t, "http://127.0.0.1:8080 {\n"+out+"\n}\n")
	if err != nil {
		t.Fatalf("printed lines do not adapt: %v\n%s", err, out)
	}
	s := string(cfg)
	abs, _ := filepath.Abs(dir)
	ps, err := sim.Load(abs, provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, `"handler":"payguard_sim","keys":"`+abs+`"`) {
		t.Errorf("adapted config lacks the sandbox block:\n%s", s)
	}
	for _, p := range ps {
		if !strings.Contains(s, `"name":"`+p.Name()+`"`) {
			t.Errorf("adapted config lacks the %s route", p.Name())
		}
		// Every option the sandbox gives is a live line, with the sandbox's
		// address where a query endpoint belongs.
		for _, set := range p.Settings("http://127.0.0.1:19002") {
			for _, a := range set.Args {
				if !strings.Contains(s, strconv.Quote(a)) {
					t.Errorf("%s: adapted config lacks %s %s", p.Name(), set.Name, a)
				}
			}
		}
	}
	// And they provision: every key file parses, every id fits its key.
	var full caddy.Config
	if err := json.Unmarshal(cfg, &full); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&full); err != nil {
		t.Fatalf("printed lines do not provision: %v", err)
	}

	// Running it again would destroy the keys: refused without --force.
	if _, _, err := runSim(t, context.Background(), "keys", "--dir", dir); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second run: %v", err)
	}
	if _, _, err := runSim(t, context.Background(), "keys", "--dir", dir, "--force"); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if _, _, err := runSim(t, context.Background(), "keys"); err == nil {
		t.Fatal("keys without --dir")
	}
}

var deliveryLine = regexp.MustCompile(`(?m)^(\d+): (\d+) (\S+) (.*)$`)

func deliveries(out string) []string {
	var d []string
	for _, m := range deliveryLine.FindAllStringSubmatch(out, -1) {
		d = append(d, m[2]+" "+m[3]+" "+m[4])
	}
	return d
}

// TestSimNotifyThroughOneProcessStack is the local stack of the root
// Caddyfile in one Caddy: `payguard sim notify` against the sidecar, whose
// reverse query goes to the payguard_sim sandbox in the same process.
func TestSimNotifyThroughOneProcessStack(t *testing.T) {
	st := startSimStack(t)
	ctx := context.Background()
	notify := func(args ...string) (string, []string) {
		t.Helper()
		base := []string{"notify", "alipay", "--to", st.sidecar + "/alipay/notify", "--sandbox", st.sandbox, "--keys", st.keys}
		out, errOut, err := runSim(t, ctx, append(base, args...)...)
		if err != nil {
			t.Fatalf("sim notify %v: %v\n%s%s", args, err, out, errOut)
		}
		return out, deliveries(out)
	}

	out, got := notify("--amount", "12.34", "--replay", "2", "--out-trade-no", "ORDER-1")
	want := []string{`200 forwarded "success"`, `200 duplicate "success"`, `200 duplicate "success"`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("deliveries %q, want %q\n%s", got, want, out)
	}
	if !strings.Contains(out, "alipay order ORDER-1: amount 12.34 CNY, status TRADE_SUCCESS") || !strings.Contains(out, "registered at "+st.sandbox) {
		t.Errorf("order line:\n%s", out)
	}
	shop := st.shop.got()
	if len(shop) != 1 || shop[0].Get("Payguard-Query") != "confirmed" || shop[0].Get("Payguard-Amount") != "1234" || shop[0].Get("Payguard-Out-Trade-No") != "ORDER-1" {
		t.Fatalf("shop got %d: %v", len(shop), shop)
	}

	// The sandbox disagrees about the amount: refused, never forwarded.
	out, got = notify("--amount", "100.00", "--query-amount", "0.01", "--expect", "query_mismatch")
	if len(got) != 1 || got[0] != `403 query_mismatch "fail"` || !strings.Contains(out, "query API answers: amount 0.01") {
		t.Fatalf("disagreeing sandbox: %q\n%s", got, out)
	}
	// A notification for an order the sandbox never heard of.
	_, got = notify("--sandbox", "", "--expect", "query_mismatch")
	if len(got) != 1 || got[0] != `403 query_mismatch "fail"` {
		t.Fatalf("unregistered order: %q", got)
	}
	// Tampered: refused at the signature, before any query.
	for _, f := range []string{"total_amount", "sign_type", "app_id"} {
		_, got = notify("--tamper", f, "--expect", "bad_signature")
		if len(got) != 1 || got[0] != `401 bad_signature "fail"` {
			t.Errorf("--tamper %s: %q", f, got)
		}
	}
	if n := len(st.shop.got()); n != 1 {
		t.Fatalf("shop got %d notifications, want only the first", n)
	}

	// The sandbox is down: a warning, the notification still goes, and
	// payguard fails closed (query_unavailable, retryable).
	down := "http://127.0.0.1:1"
	out, errOut, err := runSim(t, ctx, "notify", "alipay", "--to", st.sidecar+"/alipay/notify", "--sandbox", down, "--keys", st.keys, "--expect", "query_mismatch")
	if err != nil || !strings.Contains(errOut, "warning: sandbox unreachable") || !strings.Contains(out, "NOT registered") {
		t.Fatalf("sandbox down: %v\n%s%s", err, out, errOut)
	}

	// Argument errors.
	for _, args := range [][]string{
		{"notify", "alipay", "--keys", st.keys},
		{"notify", "nosuchprovider", "--to", st.sidecar, "--keys", st.keys},
		{"notify", "alipay", "--to", st.sidecar, "--keys", st.keys, "--tamper", "subject"},
		{"notify", "alipay", "--to", st.sidecar, "--keys", st.keys, "--amount", "1.001"},
		{"notify", "alipay", "--to", st.sidecar, "--keys", t.TempDir()},
		{"notify", "--to", st.sidecar},
	} {
		if _, _, err := runSim(t, ctx, args...); err == nil {
			t.Errorf("accepted %v", args)
		}
	}
}

// TestSimNotifyExitCodes: 1 when an answer is not the expected one, so
// the simulator can drive shell tests.
func TestSimNotifyExitCodes(t *testing.T) {
	st := startSimStack(t)
	base := []string{"notify", "alipay", "--to", st.sidecar + "/alipay/notify", "--sandbox", st.sandbox, "--keys", st.keys}
	if _, _, err := runSim(t, context.Background(), append(base, "--tamper", "total_amount")...); err == nil || !strings.Contains(err.Error(), "not forwarded or duplicate") {
		t.Fatalf("a refused notification exited 0: %v", err)
	}
	if _, _, err := runSim(t, context.Background(), append(base, "--expect", "bad_signature")...); err == nil || !strings.Contains(err.Error(), "not bad_signature") {
		t.Fatalf("a forwarded notification met --expect bad_signature: %v", err)
	}
	if _, _, err := runSim(t, context.Background(), append(base, "--tamper", "sign", "--expect", "bad_signature")...); err != nil {
		t.Fatalf("expected refusal: %v", err)
	}
}
