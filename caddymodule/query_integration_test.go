package caddymodule_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/sim"
	"github.com/payguard/payguard/internal/store/redistest"
)

// gateway is the provider's query API as the tests control it: the
// sandbox, or a forger, or an unsigned, slow, failing or absent one.
type gateway struct {
	srv    *httptest.Server
	book   *sim.OrderBook
	real   *sim.Server
	forger *sim.Server
	mode   atomic.Value // string
	delay  atomic.Int64 // nanoseconds added to every answer
	calls  atomic.Int32
}

var unsignedRE = regexp.MustCompile(`,"sign":"[^"]*"`)

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	time.Sleep(time.Duration(g.delay.Load()))
	switch g.mode.Load().(string) {
	case "forged":
		g.forger.ServeHTTP(w, r)
	case "unsigned":
		rec := httptest.NewRecorder()
		g.real.ServeHTTP(rec, r)
		w.Header().Set("Content-Type", "application/json")
		w.Write(unsignedRE.ReplaceAll(rec.Body.Bytes(), nil))
	case "slow":
		time.Sleep(1500 * time.Millisecond)
		g.real.ServeHTTP(w, r)
	case "500":
		http.Error(w, "internal error", 500)
	case "down":
		// The connection dies without an answer.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		g.real.ServeHTTP(w, r)
	}
}

type queryStack struct {
	base  string
	shop  *recorder
	gw    *gateway
	alipy *sim.Provider
}

func startQueryStack(t *testing.T, storeLines string) *queryStack {
	t.Helper()
	keysFor(t)
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	appPriv := filepath.Join(dir, "alipay_app_private.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(appKey)
	os.WriteFile(appPriv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)

	// The sandbox signs with the key payguard trusts as Alipay's; the
	// forger with another, answering for the same orders.
	realAlipay := alipaySandbox(t, testKeys.alipay, &appKey.PublicKey)
	forgedAlipay := alipaySandbox(t, testKeys.other, &appKey.PublicKey)
	g := &gateway{book: sim.NewOrderBook()}
	g.mode.Store("ok")
	if g.real, err = sim.NewServer(sim.ServerConfig{Book: g.book, Providers: []*sim.Provider{realAlipay}}); err != nil {
		t.Fatal(err)
	}
	if g.forger, err = sim.NewServer(sim.ServerConfig{Book: g.book, Providers: []*sim.Provider{forgedAlipay}}); err != nil {
		t.Fatal(err)
	}
	g.srv = httptest.NewServer(g)
	t.Cleanup(g.srv.Close)

	shop := newRecorder(t)
	port := freePort(t)
	route := func(path, cache string) string {
		return fmt.Sprintf(`
	handle %s {
		payguard alipay {
			app_id 2021000000000001
			public_key_file %s
			query {
				endpoint %s/alipay/gateway.do
				timeout 1s
				cache %s
				private_key_file %s
			}
		}
		reverse_proxy %s
	}`, path, testKeys.alipayPubFile, g.srv.URL, cache, appPriv, strings.TrimPrefix(shop.srv.URL, "http://"))
	}
	startCaddy(t, testGlobals(storeLines)+fmt.Sprintf(`
http://127.0.0.1:%d {%s%s
}
`, port, route("/alipay/notify", "30s"), route("/alipay/nocache", "0s")))
	return &queryStack{base: fmt.Sprintf("http://127.0.0.1:%d", port), shop: shop, gw: g, alipy: realAlipay}
}

// notify builds a signed notification for o, registering the order with
// the sandbox as `payguard sim notify` does.
func (s *queryStack) notify(t *testing.T, o sim.Order, register bool) []byte {
	t.Helper()
	o.Provider = "alipay"
	o.AppID = "2021000000000001"
	if err := s.alipy.Prepare(&o, time.Now()); err != nil {
		t.Fatal(err)
	}
	if register {
		s.gw.book.Put(o)
	}
	msg, err := s.alipy.BuildNotify(&o, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return msg.Body
}

func TestQueryConfirmsAndRefuses(t *testing.T) {
	s := startQueryStack(t, "store memory")
	url := s.base + "/alipay/notify"

	body := s.notify(t, sim.Order{OutTradeNo: "q-ok", Amount: 1234}, true)
	resp, ack := postForm(t, url, body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	if got := s.shop.last().header.Get("Payguard-Query"); got != "confirmed" {
		t.Fatalf("Payguard-Query = %q, want confirmed", got)
	}

	for _, c := range []struct {
		name     string
		order    sim.Order
		register bool
	}{
		{"amount the provider does not agree with", sim.Order{OutTradeNo: "q-amount", Amount: 10000, QueryAmount: 1}, true},
		{"order not paid at the provider", sim.Order{OutTradeNo: "q-unpaid", Amount: 500, QueryStatus: "WAIT_BUYER_PAY"}, true},
		{"order unknown to the provider", sim.Order{OutTradeNo: "q-unknown", Amount: 500}, false},
	} {
		resp, ack := postForm(t, url, s.notify(t, c.order, c.register), nil)
		if resp.StatusCode != 403 || resp.Header.Get("Payguard-Reason") != "query_mismatch" || ack != "fail" {
			t.Errorf("%s: %d %s %q, want 403 query_mismatch fail", c.name, resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack)
		}
	}
	if n := s.shop.count(); n != 1 {
		t.Fatalf("shop got %d notifications, want only the confirmed one", n)
	}
}

func TestQueryUntrustworthyAnswersNeverConfirm(t *testing.T) {
	s := startQueryStack(t, "store memory")
	for _, mode := range []string{"forged", "unsigned", "slow", "500", "down"} {
		body := s.notify(t, sim.Order{OutTradeNo: "q-" + mode, Amount: 999}, true)
		s.gw.mode.Store(mode)
		resp, ack := postForm(t, s.base+"/alipay/notify", body, nil)
		if resp.StatusCode != 503 || resp.Header.Get("Payguard-Reason") != "query_unavailable" || ack != "fail" {
			t.Errorf("%s answer: %d %s %q, want 503 query_unavailable fail", mode, resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack)
		}
		if s.shop.count() != 0 {
			t.Fatalf("%s answer: forwarded", mode)
		}
		// The provider's retry, once the query API is trustworthy again,
		// delivers it, once.
		s.gw.mode.Store("ok")
		resp, ack = postForm(t, s.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 200, "forwarded", "success")
		s.shop.mu.Lock()
		s.shop.reqs = nil
		s.shop.mu.Unlock()
	}
}

func TestQueryProviderDownOnBothStores(t *testing.T) {
	for _, st := range []string{"memory", "redis"} {
		t.Run(st, func(t *testing.T) {
			lines := "store memory"
			if st == "redis" {
				lines = "store redis " + redistest.Start(t).URL()
			}
			s := startQueryStack(t, lines)
			body := s.notify(t, sim.Order{OutTradeNo: "q-down", Amount: 300}, true)
			s.gw.mode.Store("down")
			for i := 0; i < 2; i++ {
				resp, ack := postForm(t, s.base+"/alipay/notify", body, nil)
				want(t, resp, ack, 503, "query_unavailable", "fail")
			}
			s.gw.mode.Store("ok")
			resp, ack := postForm(t, s.base+"/alipay/notify", body, nil)
			want(t, resp, ack, 200, "forwarded", "success")
			resp, ack = postForm(t, s.base+"/alipay/notify", body, nil)
			want(t, resp, ack, 200, "duplicate", "success")
			if n := s.shop.count(); n != 1 {
				t.Fatalf("shop got %d", n)
			}
		})
	}
}

func TestQueryCollapsesConcurrentNotifications(t *testing.T) {
	s := startQueryStack(t, "store memory")
	s.gw.delay.Store(int64(300 * time.Millisecond))

	// Twenty copies of one notification: one delivery, one query.
	body := s.notify(t, sim.Order{OutTradeNo: "q-copies", Amount: 700}, true)
	fire := func(path string, bodies [][]byte) map[string]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		reasons := map[string]int{}
		for _, b := range bodies {
			wg.Add(1)
			go func(b []byte) {
				defer wg.Done()
				resp, _ := postForm(t, s.base+path, b, nil)
				mu.Lock()
				reasons[resp.Header.Get("Payguard-Reason")]++
				mu.Unlock()
			}(b)
		}
		wg.Wait()
		return reasons
	}
	copies := make([][]byte, 20)
	for i := range copies {
		copies[i] = body
	}
	reasons := fire("/alipay/notify", copies)
	if s.gw.calls.Load() != 1 || s.shop.count() != 1 || reasons["forwarded"] != 1 {
		t.Fatalf("20 copies: %d queries, %d deliveries, answers %v", s.gw.calls.Load(), s.shop.count(), reasons)
	}

	// Twenty different notifications about one order at once, with no
	// cache: singleflight alone makes it one query.
	s.gw.calls.Store(0)
	o := sim.Order{OutTradeNo: "q-many", Amount: 700}
	o.Provider, o.AppID = "alipay", "2021000000000001"
	if err := s.alipy.Prepare(&o, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.gw.book.Put(o)
	many := make([][]byte, 20)
	for i := range many {
		e := o
		e.EventID = fmt.Sprintf("%s%02d", o.EventID[:len(o.EventID)-2], i)
		msg, err := s.alipy.BuildNotify(&e, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		many[i] = msg.Body
	}
	reasons = fire("/alipay/nocache", many)
	if s.gw.calls.Load() != 1 || reasons["forwarded"] != 20 {
		t.Fatalf("20 notifications for one order: %d queries, answers %v", s.gw.calls.Load(), reasons)
	}

	// One after the other: with cache 0s each is asked anew; with the
	// cache, the confirmed answer is reused.
	s.gw.delay.Store(0)
	for path, wantCalls := range map[string]int32{"/alipay/nocache": 2, "/alipay/notify": 1} {
		s.gw.calls.Store(0)
		o := sim.Order{Provider: "alipay", AppID: "2021000000000001", OutTradeNo: "q-seq" + strings.ReplaceAll(path, "/", "-"), Amount: 200}
		if err := s.alipy.Prepare(&o, time.Now()); err != nil {
			t.Fatal(err)
		}
		s.gw.book.Put(o)
		for i := 0; i < 2; i++ {
			e := o
			e.EventID = fmt.Sprintf("%s%02d", o.EventID[:len(o.EventID)-2], i)
			msg, err := s.alipy.BuildNotify(&e, "", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			resp, ack := postForm(t, s.base+path, msg.Body, nil)
			want(t, resp, ack, 200, "forwarded", "success")
		}
		if got := s.gw.calls.Load(); got != wantCalls {
			t.Errorf("%s: two notifications for one order made %d queries, want %d", path, got, wantCalls)
		}
	}
}

// alipaySandbox is the simulated Alipay signing with key.
func alipaySandbox(t *testing.T, key *rsa.PrivateKey, appPub *rsa.PublicKey) *sim.Provider {
	t.Helper()
	sb, err := alipay.NewSandbox(alipay.SandboxConfig{Key: key, AppPublicKey: appPub})
	if err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewProvider(alipay.Name, sb)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
