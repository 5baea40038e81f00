package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/keys"
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
	// The written keys parse with payguard's own parser and pair up.
	for _, pair := range [][2]string{
		{sim.FileAlipayPrivate, sim.FileAlipayPublic}, {sim.FileAppPrivate, sim.FileAppPublic},
		{sim.FileWeChatPlatformPrivate, sim.FileWeChatPlatformPublic}, {sim.FileWeChatMerchantPrivate, sim.FileWeChatMerchantPublic},
	} {
		privPEM, _ := os.ReadFile(filepath.Join(dir, pair[0]))
		pubPEM, _ := os.ReadFile(filepath.Join(dir, pair[1]))
		priv, err := keys.ParseRSAPrivateKey(privPEM)
		if err != nil {
			t.Fatalf("%s: %v", pair[0], err)
		}
		pub, err := keys.ParseRSAPublicKey(pubPEM)
		if err != nil || !pub.Equal(&priv.PublicKey) {
			t.Fatalf("%s does not match %s: %v", pair[1], pair[0], err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, pair[0])); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", pair[0], fi.Mode().Perm())
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
	for _, want := range []string{
		`"handler":"payguard"`, `"name":"alipay"`, `"app_id":"` + sim.DefaultAlipayAppID + `"`,
		`"public_key_file":"` + filepath.Join(abs, sim.FileAlipayPublic) + `"`,
		`"private_key_file":"` + filepath.Join(abs, sim.FileAppPrivate) + `"`,
		`"endpoint":"http://127.0.0.1:19002/alipay/gateway.do"`,
		`"handler":"payguard_sim","keys":"` + abs + `"`,
		// The WeChat Pay blocks are live lines, with the ids derived from
		// the written keys.
		`"name":"wechatpay_v3"`, `"mch_id":"` + sim.DefaultWeChatMchID + `"`,
		`"api_v3_key_file":"` + filepath.Join(abs, sim.FileWeChatAPIv3Key) + `"`,
		`"public_key_file":"` + filepath.Join(abs, sim.FileWeChatPlatformPublic) + `"`,
		`"private_key_file":"` + filepath.Join(abs, sim.FileWeChatMerchantPrivate) + `"`,
		`"endpoint":"http://127.0.0.1:19002/wechatpay"`,
		`"name":"wechatpay_v2"`, `"app_id":"` + sim.DefaultWeChatAppID + `"`,
		`"api_key_file":"` + filepath.Join(abs, sim.FileWeChatAPIKey) + `"`,
		`"endpoint":"http://127.0.0.1:19002/wechatpay/v2/pay/orderquery"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("adapted config lacks %s:\n%s", want, s)
		}
	}
	k, err := sim.LoadKeys(dir)
	if err != nil || k.WeChat == nil {
		t.Fatalf("written keys: %v", err)
	}
	for _, want := range []string{`"public_key_id":"` + k.WeChat.PublicKeyID + `"`, `"merchant_serial":"` + k.WeChat.MerchantSerial + `"`} {
		if !strings.Contains(s, want) {
			t.Errorf("adapted config lacks %s", want)
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

func TestSimServeCommand(t *testing.T) {
	dir := simKeys(t)
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, _, err = runSim(t, ctx, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--keys", dir)
		done <- err
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/_sim/providers"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		cancel()
		t.Fatalf("sandbox never answered: %v", err)
	}
	var infos []sim.ProviderInfo
	_ = json.NewDecoder(resp.Body).Decode(&infos)
	resp.Body.Close()
	if len(infos) != 3 || infos[0].Endpoint != base+"/alipay/gateway.do" {
		t.Errorf("providers: %+v", infos)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(out, "sandbox on "+base) || !strings.Contains(out, "alipay        query endpoint "+base+"/alipay/gateway.do") || !strings.Contains(out, "stopped") {
		t.Errorf("serve output:\n%s", out)
	}
	if _, _, err := runSim(t, context.Background(), "serve", "--keys", t.TempDir()); err == nil {
		t.Error("serve with an empty keys directory")
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
	if !strings.Contains(out, "alipay order ORDER-1: amount 12.34, status TRADE_SUCCESS") || !strings.Contains(out, "registered at "+st.sandbox) {
		t.Errorf("order line:\n%s", out)
	}
	shop := st.shop.got()
	if len(shop) != 1 || shop[0].Get("Payguard-Query") != "confirmed" || shop[0].Get("Payguard-Amount") != "1234" || shop[0].Get("Payguard-Out-Trade-No") != "ORDER-1" {
		t.Fatalf("shop got %d: %v", len(shop), shop)
	}

	// The sandbox disagrees about the amount: refused, never forwarded.
	out, got = notify("--amount", "100.00", "--query-amount", "0.01")
	if len(got) != 1 || got[0] != `403 query_mismatch "fail"` || !strings.Contains(out, "query API answers: amount 0.01") {
		t.Fatalf("disagreeing sandbox: %q\n%s", got, out)
	}
	// A notification for an order the sandbox never heard of.
	_, got = notify("--sandbox", "")
	if len(got) != 1 || got[0] != `403 query_mismatch "fail"` {
		t.Fatalf("unregistered order: %q", got)
	}
	// Tampered: refused at the signature, before any query.
	for _, f := range []string{"total_amount", "sign_type", "app_id"} {
		_, got = notify("--tamper", f)
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
	out, errOut, err := runSim(t, ctx, "notify", "alipay", "--to", st.sidecar+"/alipay/notify", "--sandbox", down, "--keys", st.keys)
	if err != nil || !strings.Contains(errOut, "warning: sandbox unreachable") || !strings.Contains(out, "NOT registered") {
		t.Fatalf("sandbox down: %v\n%s%s", err, out, errOut)
	}

	// Argument errors.
	for _, args := range [][]string{
		{"notify", "alipay", "--keys", st.keys},
		{"notify", "paypal", "--to", st.sidecar, "--keys", st.keys},
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

func TestSimNotifyWeChatNeedsKeys(t *testing.T) {
	// A key directory with Alipay keys only: a WeChat notify says what to do.
	dir := t.TempDir()
	for _, f := range []string{"alipay_private.pem", "alipay_public.pem", "app_private.pem", "app_public.pem"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "keys", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := runSim(t, context.Background(), "notify", "wechatpay_v3", "--to", "http://127.0.0.1:1", "--keys", dir)
	if err == nil || !strings.Contains(err.Error(), "no WeChat Pay keys") {
		t.Fatalf("%v", err)
	}
}

func TestSimNotifyDeliveryFailureExitCode(t *testing.T) {
	dir := simKeys(t)
	out, _, err := runSim(t, context.Background(), "notify", "alipay", "--to", "http://127.0.0.1:1/notify", "--sandbox", "", "--keys", dir, "--timeout", "2s")
	if err == nil || !strings.Contains(out, "1: error:") {
		t.Fatalf("unreachable sidecar: %v\n%s", err, out)
	}
}
