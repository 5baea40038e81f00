package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
	"github.com/payguard/payguard/internal/sim"
	"github.com/payguard/payguard/internal/store/redistest"
)

// queryPolicy reads every field of query: on these routes the sandbox
// answers the reverse query, so query is never null.
const queryPolicy = "// Guards against an unconfirmed payment, in a test.\n" +
	`query.status == "paid" && query.amount == notification.amount && query.currency == notification.currency` + "\n"

// TestDuplicatePaymentAcrossProviders: an Alipay route and a WeChat Pay
// route of one shop share an order_namespace, so an order paid through one
// and paid again through the other is flagged (DESIGN.md section 4); a
// route in another namespace does not see the first payment.
func TestDuplicatePaymentAcrossProviders(t *testing.T) {
	ps := e2eProviders(t)
	byName := map[string]*sim.Provider{}
	for _, p := range ps {
		byName[p.Name()] = p
	}
	ali, wx := byName["alipay"], byName["wechatpay_v3"]
	if ali == nil || wx == nil {
		t.Fatal("alipay and wechatpay_v3 sandboxes are required")
	}
	policyFile := filepath.Join(t.TempDir(), "query.cel")
	if err := os.WriteFile(policyFile, []byte(queryPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, storeLines string) {
		srv, err := sim.NewServer(sim.ServerConfig{Providers: ps})
		if err != nil {
			t.Fatal(err)
		}
		sb := httptest.NewServer(srv)
		t.Cleanup(sb.Close)
		shop := newRecorder(t)
		var routes strings.Builder
		for _, r := range []struct {
			path   string
			p      *sim.Provider
			ns     string
			single bool // also a policy refusing a second payment
		}{{"/shop/alipay", ali, "shop-one", false}, {"/shop/wechat", wx, "shop-one", false}, {"/other/wechat", wx, "shop-two", false},
			{"/single/alipay", ali, "shop-single", true}, {"/single/wechat", wx, "shop-single", true}} {
			settings := append(r.p.Settings(sb.URL),
				provider.Setting{Name: "order_namespace", Args: []string{r.ns}},
				provider.Setting{Name: "policy", Args: []string{policyFile}})
			if r.single {
				settings = append(settings, provider.Setting{Name: "policy", Args: []string{`notification.duplicate_of == ""`}})
			}
			block, err := sim.HandlerBlock(r.p.Name(), settings)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&routes, "\thandle %s {\n%s\t\treverse_proxy %s\n\t}\n", r.path, indent(block, "\t\t"), strings.TrimPrefix(shop.srv.URL, "http://"))
		}
		port := freePort(t)
		startCaddy(t, testGlobals(storeLines)+fmt.Sprintf("\nhttp://127.0.0.1:%d {\n%s}\n", port, routes.String()))
		st := &e2eStack{base: fmt.Sprintf("http://127.0.0.1:%d", port), shop: shop, sandbox: srv}

		outTradeNo := sim.NewOutTradeNo(time.Now())
		pay := func(p *sim.Provider, path string) (txn, dup string) {
			t.Helper()
			o := sim.Order{Provider: p.Name(), OutTradeNo: outTradeNo, Amount: 1234}
			if err := p.Prepare(&o, time.Now()); err != nil {
				t.Fatal(err)
			}
			st.sandbox.Book().Put(o)
			before := shop.count()
			resp, body := sendTo(t, st.base+path, build(t, p, o))
			wantAccepted(t, resp, body)
			wantReason(t, resp, body, "forwarded")
			if shop.count() != before+1 {
				t.Fatalf("%s: not delivered", path)
			}
			h := shop.last().header
			if h.Get("Payguard-Query") != "confirmed" {
				t.Fatalf("%s: Payguard-Query %q", path, h.Get("Payguard-Query"))
			}
			return h.Get("Payguard-Transaction-Id"), h.Get("Payguard-Duplicate-Payment")
		}
		first, dup := pay(ali, "/shop/alipay")
		if dup != "" {
			t.Fatalf("the first payment is flagged as a duplicate of %q", dup)
		}
		second, dup := pay(wx, "/shop/wechat")
		if dup != first || second == first {
			t.Fatalf("the WeChat payment of an order Alipay paid: Payguard-Duplicate-Payment %q, want %q", dup, first)
		}
		if _, dup = pay(wx, "/other/wechat"); dup != "" {
			t.Fatalf("another namespace saw the payment: %q", dup)
		}

		// A policy that reads duplicate_of sees the other provider's
		// payment before this one is recorded, and refuses it: nothing
		// reaches the shop and WeChat Pay is told to retry.
		outTradeNo = sim.NewOutTradeNo(time.Now())
		if _, dup = pay(ali, "/single/alipay"); dup != "" {
			t.Fatalf("the first payment is flagged as a duplicate of %q", dup)
		}
		o := sim.Order{Provider: wx.Name(), OutTradeNo: outTradeNo, Amount: 1234}
		if err := wx.Prepare(&o, time.Now()); err != nil {
			t.Fatal(err)
		}
		st.sandbox.Book().Put(o)
		before := shop.count()
		resp, body := sendTo(t, st.base+"/single/wechat", build(t, wx, o))
		wantReason(t, resp, body, "policy_denied")
		if resp.StatusCode != http.StatusForbidden || shop.count() != before {
			t.Fatalf("second payment: %d, the shop got %d more", resp.StatusCode, shop.count()-before)
		}
	}
	t.Run("memory", func(t *testing.T) { run(t, "store memory") })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		run(t, "store redis "+srv.URL())
	})
}

// TestPolicyErrorsFailProvision: a JSON config (no Caddyfile, so no adapt
// step) is checked when it loads: every compile error names the policy and
// CEL's position, and nothing starts.
func TestPolicyErrorsFailProvision(t *testing.T) {
	keysFor(t)
	for name, c := range map[string]struct{ policy, want string }{
		// policy is the handler's JSON after "policies":
		"syntax":        {`[{"expression":"notification.amount <"}]`, "notification.amount <:1:22: Syntax error"},
		"type":          {`[{"expression":"query.amount == \"1\""}]`, "found no matching overload for '_==_'"},
		"non-boolean":   {`[{"expression":"notification.currency"}]`, "a policy must be a boolean expression, this one is string"},
		"file":          {`[{"file":"testdata/policies/type_error.cel"}]`, "testdata/policies/type_error.cel:3:35: undefined field 'amout'"},
		"both":          {`[{"file":"a.cel","expression":"true"}]`, "a file or an expression, not both"},
		"bad lookup":    {`[],"order_lookup":"ftp://x/{out_trade_no}"`, "must be an absolute http or https URL"},
		"timeout alone": {`[],"order_timeout":1000000000`, "order_timeout without order_lookup"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:%d"],"routes":[{"handle":[
				{"handler":"payguard","provider":{"name":"alipay","app_id":"2021000000000001","public_key_file":%q},"policies":%s}]}]}}}}}`,
				freePort(t), testKeys.alipayPubFile, c.policy)
			err := caddy.Load([]byte(cfg), true)
			if err == nil {
				_ = caddy.Stop()
				t.Fatal("a config with a broken policy loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// sendTo delivers a signed message to url as the provider would.
func sendTo(t *testing.T, url string, m *sandbox.Message) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(m.Method, url, bytes.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range m.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
