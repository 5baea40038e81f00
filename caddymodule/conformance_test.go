package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
	"github.com/payguard/payguard/internal/sim"
	"github.com/payguard/payguard/internal/store/redistest"
)

// The end-to-end provider conformance suite: every registered provider with
// a sandbox, through a real Caddy, on the memory store and on a real
// redis-server. A new provider gets all of it by registering; its own
// tests keep only what is specific to it.

// e2eKeys is one key directory for every provider, written once per test
// binary (RSA key generation is the slow part).
var e2eKeys struct {
	once sync.Once
	dir  string
	err  error
}

func e2eProviders(t *testing.T) []*sim.Provider {
	t.Helper()
	e2eKeys.once.Do(func() {
		e2eKeys.dir, e2eKeys.err = os.MkdirTemp("", "payguard-e2e-")
		if e2eKeys.err == nil {
			_, e2eKeys.err = sim.GenerateKeys(sim.KeysConfig{Dir: e2eKeys.dir})
		}
	})
	if e2eKeys.err != nil {
		t.Fatal(e2eKeys.err)
	}
	ps, err := sim.Load(e2eKeys.dir, provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range provider.Specs() {
		if s.Sandbox != nil {
			want = append(want, s.Name)
		}
	}
	if len(ps) != len(want) {
		t.Fatalf("sandboxes loaded for %d providers, %d registered with one (%v)", len(ps), len(want), want)
	}
	return ps
}

// e2eStack is one Caddy with a route per provider in front of a shop, the
// sandbox serving the providers' query APIs.
type e2eStack struct {
	base    string
	shop    *recorder
	sandbox *sim.Server
}

func startE2E(t *testing.T, ps []*sim.Provider, storeLines string) *e2eStack {
	t.Helper()
	srv, err := sim.NewServer(sim.ServerConfig{Providers: ps})
	if err != nil {
		t.Fatal(err)
	}
	sb := httptest.NewServer(srv)
	t.Cleanup(sb.Close)
	shop := newRecorder(t)
	port := freePort(t)
	var routes strings.Builder
	for _, p := range ps {
		block, err := sim.HandlerBlock(p.Name(), append(p.Settings(sb.URL),
			provider.Setting{Name: "claim_lease", Args: []string{"10s"}}))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&routes, "\thandle /e2e/%s {\n%s\t\treverse_proxy %s\n\t}\n", p.Name(), indent(block, "\t\t"), strings.TrimPrefix(shop.srv.URL, "http://"))
	}
	startCaddy(t, testGlobals(storeLines)+fmt.Sprintf(`
http://127.0.0.1:%d {
%s}
`, port, routes.String()))
	return &e2eStack{base: fmt.Sprintf("http://127.0.0.1:%d", port), shop: shop, sandbox: srv}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

// order prepares and registers an order, so the sandbox's query confirms it.
func (st *e2eStack) order(t *testing.T, p *sim.Provider) sim.Order {
	t.Helper()
	o := sim.Order{Provider: p.Name(), OutTradeNo: sim.NewOutTradeNo(time.Now()), Amount: 1234}
	if err := p.Prepare(&o, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.sandbox.Book().Put(o)
	return o
}

// build signs a notification for o as the provider would, now: a
// provider's retry is a fresh build for the same order (WeChat, Stripe and
// PayPal sign every retry afresh).
func build(t *testing.T, p *sim.Provider, o sim.Order) *sandbox.Message {
	t.Helper()
	m, err := p.BuildNotify(&o, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (st *e2eStack) send(t *testing.T, p *sim.Provider, m *sandbox.Message, extra http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(m.Method, st.base+"/e2e/"+p.Name(), bytes.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Method == http.MethodGet {
		req.URL.RawQuery = string(m.Body)
		req.Body, req.ContentLength = nil, 0
	}
	for k, v := range m.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func wantReason(t *testing.T, resp *http.Response, body []byte, reasons ...string) {
	t.Helper()
	got := resp.Header.Get("Payguard-Reason")
	for _, r := range reasons {
		if got == r {
			return
		}
	}
	t.Fatalf("answer %d %q (body %q), want reason %v", resp.StatusCode, got, clipBody(body), reasons)
}

func wantAccepted(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("acknowledgement %d (reason %q, body %q), want the provider's success", resp.StatusCode, resp.Header.Get("Payguard-Reason"), clipBody(body))
	}
}

func clipBody(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func TestProviderConformanceEndToEnd(t *testing.T) {
	ps := e2eProviders(t)
	run := func(t *testing.T, storeLines string) {
		st := startE2E(t, ps, storeLines)
		for _, p := range ps {
			t.Run(p.Name(), func(t *testing.T) {
				t.Run("forwarded once, headers set, forged ones stripped", func(t *testing.T) { e2eForwardedOnce(t, st, p) })
				t.Run("twenty concurrent copies, one delivery", func(t *testing.T) { e2eConcurrent(t, st, p) })
				t.Run("upstream 500 then the retry delivered once", func(t *testing.T) { e2eUpstreamFailure(t, st, p) })
			})
		}
	}
	t.Run("memory", func(t *testing.T) { run(t, "store memory") })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		run(t, "store redis "+srv.URL()+" {\n\t\t\tkey_prefix e2e:\n\t\t}")
	})
}

func e2eForwardedOnce(t *testing.T, st *e2eStack, p *sim.Provider) {
	o := st.order(t, p)
	before := st.shop.count()
	forged := http.Header{"Payguard-Amount": {"999999"}, "Payguard-Status": {"paid"}, "Payguard-Source": {"recovered"}}
	resp, body := st.send(t, p, build(t, p, o), forged)
	wantReason(t, resp, body, "forwarded")
	wantAccepted(t, resp, body)
	if got := st.shop.count() - before; got != 1 {
		t.Fatalf("shop got %d requests, want 1", got)
	}
	h := st.shop.last().header
	for k, v := range map[string]string{
		"Payguard-Provider":     p.Name(),
		"Payguard-Out-Trade-No": o.OutTradeNo,
		"Payguard-Amount":       strconv.FormatInt(o.Amount, 10),
		"Payguard-Currency":     o.Currency,
		"Payguard-Status":       "paid",
	} {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if h.Get("Payguard-Event-Id") == "" {
		t.Error("no Payguard-Event-Id")
	}
	if q := h.Get("Payguard-Query"); q != "confirmed" && q != "skipped" {
		t.Errorf("Payguard-Query = %q", q)
	} else if hasQuery(p) && q != "confirmed" {
		t.Errorf("Payguard-Query = %q, want confirmed (the route queries the sandbox)", q)
	}
	if h.Get("Payguard-Source") != "" {
		t.Errorf("a forged Payguard-Source reached the shop: %q", h.Get("Payguard-Source"))
	}
	// The provider's retry after the shop accepted: acknowledged, not
	// delivered again.
	resp, body = st.send(t, p, build(t, p, o), nil)
	wantReason(t, resp, body, "duplicate")
	wantAccepted(t, resp, body)
	if got := st.shop.count() - before; got != 1 {
		t.Fatalf("the duplicate reached the shop (%d requests)", got)
	}
}

func hasQuery(p *sim.Provider) bool {
	for _, s := range p.Settings("http://sandbox.invalid") {
		if s.Query && s.Name == "endpoint" {
			return true
		}
	}
	return false
}

func e2eConcurrent(t *testing.T, st *e2eStack, p *sim.Provider) {
	o := st.order(t, p)
	before := st.shop.count()
	const n = 20
	msgs := make([]*sandbox.Message, n)
	for i := range msgs {
		msgs[i] = build(t, p, o)
	}
	var wg sync.WaitGroup
	reasons := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(msgs[i].Method, st.base+"/e2e/"+p.Name(), bytes.NewReader(msgs[i].Body))
			for k, v := range msgs[i].Header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				reasons[i] = err.Error()
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			reasons[i] = resp.Header.Get("Payguard-Reason")
		}()
	}
	wg.Wait()
	forwarded := 0
	for _, r := range reasons {
		switch r {
		case "forwarded":
			forwarded++
		case "duplicate", "in_flight":
		default:
			t.Errorf("a copy was answered %q", r)
		}
	}
	if forwarded != 1 || st.shop.count()-before != 1 {
		t.Fatalf("%d forwarded, shop got %d; want 1 and 1 (%v)", forwarded, st.shop.count()-before, reasons)
	}
}

func e2eUpstreamFailure(t *testing.T, st *e2eStack, p *sim.Provider) {
	o := st.order(t, p)
	before := st.shop.count()
	st.shop.setStatus(500)
	resp, body := st.send(t, p, build(t, p, o), nil)
	st.shop.setStatus(200)
	wantReason(t, resp, body, "upstream_failed")
	failStatus, failBody := resp.StatusCode, body
	resp, body = st.send(t, p, build(t, p, o), nil)
	wantReason(t, resp, body, "forwarded")
	// Whatever the provider judges by (status or body), the failure must
	// not read as its success acknowledgement.
	if failStatus == resp.StatusCode && bytes.Equal(failBody, body) {
		t.Fatalf("the failed delivery was answered like the accepted one: %d %q", failStatus, clipBody(failBody))
	}
	resp, body = st.send(t, p, build(t, p, o), nil)
	wantReason(t, resp, body, "duplicate")
	if got := st.shop.count() - before; got != 2 {
		t.Fatalf("shop got %d requests, want 2 (the refused one and the delivered retry)", got)
	}
}
