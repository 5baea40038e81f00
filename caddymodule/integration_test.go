package caddymodule_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/payguard/payguard/caddymodule"
	"github.com/payguard/payguard/internal/cli/clitest"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/store/redistest"
)

// testKeys are generated once per test binary: the "Alipay" key pair that
// signs notifications, and a second pair that is not Alipay's.
var testKeys struct {
	once          sync.Once
	alipay, other *rsa.PrivateKey
	dir           string
	alipayPubFile string
}

func keysFor(t *testing.T) {
	t.Helper()
	testKeys.once.Do(func() {
		var err error
		if testKeys.alipay, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testKeys.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		testKeys.dir, err = os.MkdirTemp("", "payguard-it-")
		if err != nil {
			panic(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(&testKeys.alipay.PublicKey)
		testKeys.alipayPubFile = filepath.Join(testKeys.dir, "alipay_public.pem")
		if err := os.WriteFile(testKeys.alipayPubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			panic(err)
		}
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{testKeys.dir, e2eKeys.dir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// recorder is the shop: it records every request that reaches it and
// answers as the legacy handler of the forwarded provider would (Alipay's
// "success", WeChat v2's return_code SUCCESS), or with answer when set.
type recorder struct {
	mu     sync.Mutex
	reqs   []recorded
	status int
	answer string
	delay  time.Duration
	// arrived, when set, is told of each request as it arrives.
	arrived chan struct{}
	srv     *httptest.Server
}

// legacyAnswer is what a legacy handler of the provider answers when it
// took the notification; a browser return gets the shop's page.
func legacyAnswer(req *http.Request) string {
	switch {
	case req.Method != http.MethodPost:
		return "shop page"
	case req.Header.Get("Payguard-Provider") == "alipay":
		return "success"
	case req.Header.Get("Payguard-Provider") == "wechatpay_v2":
		return "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
	}
	return "shop page"
}

type recorded struct {
	header  http.Header
	trailer http.Header
	body    string
	path    string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{status: 200}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{header: req.Header.Clone(), trailer: req.Trailer.Clone(), body: string(b), path: req.URL.RequestURI()})
		st, answer, delay, arrived := r.status, r.answer, r.delay, r.arrived
		r.mu.Unlock()
		if arrived != nil {
			arrived <- struct{}{}
		}
		if delay > 0 {
			// A slow shop; the request's end (payguard giving up) ends it.
			select {
			case <-time.After(delay):
			case <-req.Context().Done():
			}
		}
		if answer == "" {
			answer = legacyAnswer(req)
		}
		w.WriteHeader(st)
		io.WriteString(w, answer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last() recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

func (r *recorder) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

// slow makes the shop take d to answer, announcing each arrival on the
// returned channel.
func (r *recorder) slow(d time.Duration) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay = d
	r.arrived = make(chan struct{}, 16)
	return r.arrived
}

// setAnswer makes the shop answer body ("" for its legacy answer).
func (r *recorder) setAnswer(body string) {
	r.mu.Lock()
	r.answer = body
	r.mu.Unlock()
}

// freePort is a loopback port to listen on.
func freePort(t *testing.T) int { return clitest.FreePort(t) }

// startCaddy adapts a Caddyfile and runs it in this process until the test
// ends.
func startCaddy(t *testing.T, caddyfile string) {
	t.Helper()
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		t.Logf("adapt warning: %s", w.String())
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
}

// testGlobals is the global options block of a test Caddy (no admin
// endpoint, HTTPS, saved config or log), with payguard's global options,
// one a line, when given.
func testGlobals(payguard ...string) string {
	b := "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tlog {\n\t\toutput discard\n\t}\n"
	if len(payguard) > 0 {
		b += "\tpayguard {\n\t\t" + strings.Join(payguard, "\n\t\t") + "\n\t}\n"
	}
	return b + "}\n"
}

// stack is one running Caddy with payguard in front of a recording shop.
type stack struct {
	base    string // the main server
	trusted string // a server that trusts 127.0.0.1 as a proxy
	shop    *recorder
}

// startStack runs payguard with the given global store lines (empty: the
// default memory store).
func startStack(t *testing.T, storeLines string) *stack {
	t.Helper()
	keysFor(t)
	shop := newRecorder(t)
	port, trustedPort := freePort(t), freePort(t)
	upstream := strings.TrimPrefix(shop.srv.URL, "http://")
	cf := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	log {
		output discard
	}
	payguard {
		%s
	}
	servers :%[3]d {
		trusted_proxies static 127.0.0.1/32
	}
}

http://127.0.0.1:%[2]d {
	handle /alipay/notify {
		payguard alipay {
			app_id 2021000000000001
			seller_id 2088000000000001
			public_key_file %[4]s
			max_body 8KiB
			claim_lease 5s
		}
		reverse_proxy %[5]s
	}
	handle /alipay/return {
		payguard alipay {
			mode return
			app_id 2021000000000001
			public_key_file %[4]s
		}
		reverse_proxy %[5]s
	}
	handle /alipay/only-partner {
		payguard alipay {
			app_id 2021000000000001
			public_key_file %[4]s
			allow_ips 203.0.113.0/24
		}
		reverse_proxy %[5]s
	}
	handle /alipay/local {
		payguard alipay {
			app_id 2021000000000001
			public_key_file %[4]s
			allow_ips 127.0.0.1
			forward normalized
			upstream_secret whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
		}
		reverse_proxy %[5]s
	}
}

http://127.0.0.1:%[3]d {
	payguard alipay {
		app_id 2021000000000001
		public_key_file %[4]s
		allow_ips 203.0.113.0/24
	}
	reverse_proxy %[5]s
}
`, storeLines, port, trustedPort, testKeys.alipayPubFile, upstream)
	startCaddy(t, cf)
	return &stack{base: fmt.Sprintf("http://127.0.0.1:%d", port), trusted: fmt.Sprintf("http://127.0.0.1:%d", trustedPort), shop: shop}
}

func signer() *alipay.Signer { return &alipay.Signer{Key: testKeys.alipay} }

func mustSign(t *testing.T, s *alipay.Signer, params map[string]string) []byte {
	t.Helper()
	b, err := s.SignNotify(params)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// returnParams is a browser's synchronous return after a page payment.
func returnParams(order, tradeNo, amount string) map[string]string {
	return map[string]string{
		"app_id": "2021000000000001", "auth_app_id": "2021000000000001", "charset": "utf-8",
		"method": "alipay.trade.page.pay.return", "out_trade_no": order, "seller_id": "2088000000000001",
		"timestamp":    time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05"),
		"total_amount": amount, "trade_no": tradeNo, "version": "1.0",
	}
}

// notifyParams is a realistic TRADE_SUCCESS notification.
func notifyParams(notifyID, order, tradeNo, amount string) map[string]string {
	p := alipay.SampleNotifyParams("2021000000000001", order, amount, time.Now())
	p["notify_id"] = notifyID
	p["trade_no"] = tradeNo
	p["seller_id"] = "2088000000000001"
	return p
}

func postForm(t *testing.T, url string, body []byte, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(formRequest(url, body, hdr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// postFormAcrossReload is postForm by a client that, like a provider,
// tries again when the connection fails before an answer. Caddy's
// listeners use SO_REUSEPORT across a reload: a connection the kernel
// queued on the old socket just before it closed is reset (seen once in
// CI: "connect: connection reset by peer"). Whatever such a connection
// carried, the retry's answer is the one to check: an event the old
// server had finished is a duplicate either way, and the shop's count
// says whether anything was delivered twice.
func postFormAcrossReload(t *testing.T, url string, body []byte) (*http.Response, string) {
	t.Helper()
	var lastErr error
	for range 20 {
		resp, err := http.DefaultClient.Do(formRequest(url, body, nil))
		if err != nil {
			lastErr = err
			http.DefaultClient.CloseIdleConnections()
			continue
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	t.Fatalf("no answer across the reload in 20 tries: %v", lastErr)
	return nil, ""
}

// formRequest is a provider's form POST of body to url, with hdr.
func formRequest(url string, body []byte, hdr map[string]string) *http.Request {
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

func want(t *testing.T, resp *http.Response, body string, status int, reason, ack string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Payguard-Reason") != reason || body != ack {
		t.Fatalf("got %d %q body %q; want %d %q body %q", resp.StatusCode, resp.Header.Get("Payguard-Reason"), body, status, reason, ack)
	}
}

// stores runs f on the memory store and on a real redis-server.
func stores(t *testing.T, f func(t *testing.T, st *stack, redis *redistest.Server)) {
	t.Run("memory", func(t *testing.T) {
		f(t, startStack(t, "store memory"), nil)
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, startStack(t, "store redis "+srv.URL()+" {\n\t\t\tkey_prefix it:\n\t\t}"), srv)
	})
}

func TestAlipayValidNotificationForwardedOnce(t *testing.T) {
	stores(t, func(t *testing.T, st *stack, _ *redistest.Server) {
		body := mustSign(t, signer(), notifyParams("n-valid", "order-1", "T1", "12.34"))
		resp, ack := postForm(t, st.base+"/alipay/notify", body, map[string]string{"Payguard-Amount": "1"})
		want(t, resp, ack, 200, "forwarded", "success")
		if st.shop.count() != 1 {
			t.Fatalf("shop got %d", st.shop.count())
		}
		got := st.shop.last()
		for k, v := range map[string]string{
			"Payguard-Provider": "alipay", "Payguard-Event-Id": "n-valid", "Payguard-Out-Trade-No": "order-1",
			"Payguard-Transaction-Id": "T1", "Payguard-Amount": "1234", "Payguard-Currency": "CNY",
			"Payguard-Status": "paid", "Payguard-Query": "skipped",
		} {
			if got.header.Get(k) != v || len(got.header.Values(k)) != 1 {
				t.Errorf("%s = %q, want %q", k, got.header.Values(k), v)
			}
		}
		if got.body != string(body) {
			t.Errorf("forward original changed the body")
		}
		// The provider's retry after success is acknowledged, not delivered.
		resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 200, "duplicate", "success")
		if st.shop.count() != 1 {
			t.Fatalf("duplicate delivered: shop got %d", st.shop.count())
		}
	})
}

func TestAlipayRejections(t *testing.T) {
	stores(t, func(t *testing.T, st *stack, _ *redistest.Server) {
		good := notifyParams("n-rej", "order-2", "T2", "10.00")
		tampered := mustSign(t, signer(), good)
		tampered = []byte(strings.Replace(string(tampered), "total_amount=10.00", "total_amount=0.01", 1))
		otherKey := mustSign(t, &alipay.Signer{Key: testKeys.other}, good)
		downgraded := mustSign(t, &alipay.Signer{Key: testKeys.alipay, SignType: "RSA"}, good)
		duplicated := append(mustSign(t, signer(), good), []byte("&total_amount=0.01")...)
		big := mustSign(t, signer(), map[string]string{"notify_id": "x", "pad": strings.Repeat("a", 9000)})
		signedGood := mustSign(t, signer(), good)
		cases := []struct {
			name   string
			path   string
			body   []byte
			hdr    map[string]string
			method string
			status int
			reason string
		}{
			{"tampered amount", "/alipay/notify", tampered, nil, "POST", 401, "bad_signature"},
			{"another key", "/alipay/notify", otherKey, nil, "POST", 401, "bad_signature"},
			{"downgraded sign_type", "/alipay/notify", downgraded, nil, "POST", 401, "bad_signature"},
			{"duplicated parameter", "/alipay/notify", duplicated, nil, "POST", 400, "malformed"},
			{"client-sent Payguard-Amount is stripped, tampered body still refused", "/alipay/notify", tampered, map[string]string{"Payguard-Amount": "1000"}, "POST", 401, "bad_signature"},
			{"wrong source ip", "/alipay/only-partner", signedGood, nil, "POST", 403, "ip_not_allowed"},
			{"spoofed X-Forwarded-For", "/alipay/only-partner", signedGood, map[string]string{"X-Forwarded-For": "203.0.113.5", "X-Real-IP": "203.0.113.5"}, "POST", 403, "ip_not_allowed"},
			{"too large", "/alipay/notify", big, nil, "POST", 413, "body_too_large"},
			{"GET on notify", "/alipay/notify", nil, nil, "GET", 405, "method_not_allowed"},
		}
		for _, c := range cases {
			req, _ := http.NewRequest(c.method, st.base+c.path, strings.NewReader(string(c.body)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Header.Get("Payguard-Reason") != c.reason || string(b) != "fail" {
				t.Errorf("%s: got %d %q %q, want %d %q \"fail\"", c.name, resp.StatusCode, resp.Header.Get("Payguard-Reason"), b, c.status, c.reason)
			}
		}
		if n := st.shop.count(); n != 0 {
			t.Fatalf("shop got %d rejected notifications", n)
		}
	})
}

func TestAlipayTrustedProxyHonoured(t *testing.T) {
	st := startStack(t, "")
	// The second server trusts 127.0.0.1 as a proxy, so its
	// X-Forwarded-For names the client; allow_ips admits 203.0.113.0/24.
	body := mustSign(t, signer(), notifyParams("n-proxy", "order-p", "TP", "1.00"))
	for _, c := range []struct {
		xff    string
		status int
		reason string
	}{{"198.51.100.1", 403, "ip_not_allowed"}, {"203.0.113.5", 200, "forwarded"}} {
		resp, ack := postForm(t, st.trusted, body, map[string]string{"X-Forwarded-For": c.xff})
		if resp.StatusCode != c.status || resp.Header.Get("Payguard-Reason") != c.reason {
			t.Fatalf("XFF %s via a trusted proxy: %d %s %q", c.xff, resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack)
		}
	}
}

func TestAlipayUpstreamFailureThenRetry(t *testing.T) {
	stores(t, func(t *testing.T, st *stack, _ *redistest.Server) {
		body := mustSign(t, signer(), notifyParams("n-retry", "order-3", "T3", "5.00"))
		st.shop.setStatus(500)
		resp, ack := postForm(t, st.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 502, "upstream_failed", "fail")
		st.shop.setStatus(200)
		resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 200, "forwarded", "success")
		resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 200, "duplicate", "success")
		if n := st.shop.count(); n != 2 { // the refused one, then the accepted retry
			t.Fatalf("shop saw %d requests, want 2", n)
		}
	})
}

func TestAlipaySecondPaymentFlagged(t *testing.T) {
	stores(t, func(t *testing.T, st *stack, _ *redistest.Server) {
		first := mustSign(t, signer(), notifyParams("n-pay1", "order-4", "T4-first", "9.90"))
		second := mustSign(t, signer(), notifyParams("n-pay2", "order-4", "T4-second", "9.90"))
		resp, ack := postForm(t, st.base+"/alipay/notify", first, nil)
		want(t, resp, ack, 200, "forwarded", "success")
		if st.shop.last().header.Get("Payguard-Duplicate-Payment") != "" {
			t.Fatal("first payment flagged")
		}
		resp, ack = postForm(t, st.base+"/alipay/notify", second, nil)
		want(t, resp, ack, 200, "forwarded", "success")
		if got := st.shop.last().header.Get("Payguard-Duplicate-Payment"); got != "T4-first" {
			t.Fatalf("Payguard-Duplicate-Payment = %q, want T4-first", got)
		}
	})
}

func TestAlipayConcurrentCopiesOnce(t *testing.T) {
	stores(t, func(t *testing.T, st *stack, _ *redistest.Server) {
		body := mustSign(t, signer(), notifyParams("n-conc", "order-5", "T5", "3.00"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		reasons := map[string]int{}
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := postForm(t, st.base+"/alipay/notify", body, nil)
				mu.Lock()
				reasons[resp.Header.Get("Payguard-Reason")]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if st.shop.count() != 1 || reasons["forwarded"] != 1 {
			t.Fatalf("shop got %d, reasons %v", st.shop.count(), reasons)
		}
	})
}

func TestAlipayRedisDownFailsClosedAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	st := startStack(t, "store redis "+srv.URL())
	body := mustSign(t, signer(), notifyParams("n-redis", "order-6", "T6", "8.00"))
	srv.Stop()
	resp, ack := postForm(t, st.base+"/alipay/notify", body, nil)
	want(t, resp, ack, 503, "store_unavailable", "fail")
	if st.shop.count() != 0 {
		t.Fatal("forwarded while the store was down")
	}
	srv.Restart()
	resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	if st.shop.count() != 1 {
		t.Fatalf("shop got %d", st.shop.count())
	}
}

func TestAlipayReturnModeVerifiedNeverClaimed(t *testing.T) {
	st := startStack(t, "")
	q := string(mustSign(t, signer(), returnParams("order-7", "T7", "1.00")))
	for i := 0; i < 2; i++ {
		resp, err := http.Get(st.base + "/alipay/return?" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "shop page" || resp.Header.Get("Payguard-Reason") != "forwarded" {
			t.Fatalf("return %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if st.shop.count() != 2 || st.shop.last().header.Get("Payguard-Out-Trade-No") != "order-7" {
		t.Fatalf("shop got %d, headers %v", st.shop.count(), st.shop.last().header)
	}
	tampered := strings.Replace(q, "total_amount=1.00", "total_amount=0.01", 1)
	resp, err := http.Get(st.base + "/alipay/return?" + tampered)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Payguard-Reason") != "bad_signature" || st.shop.count() != 2 {
		t.Fatalf("tampered return: %d %s, shop %d", resp.StatusCode, resp.Header.Get("Payguard-Reason"), st.shop.count())
	}
	resp, _ = postForm(t, st.base+"/alipay/return", []byte(q), nil)
	if resp.StatusCode != 405 {
		t.Fatalf("POST on return route: %d", resp.StatusCode)
	}
}

func TestAlipayNormalizedSignedForward(t *testing.T) {
	st := startStack(t, "")
	body := mustSign(t, signer(), notifyParams("n-norm", "order-8", "T8", "0.10"))
	resp, ack := postForm(t, st.base+"/alipay/local", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	got := st.shop.last()
	if !strings.Contains(got.body, `"amount":10`) || !strings.Contains(got.body, `"provider":"alipay"`) ||
		strings.Contains(got.body, `"sign"`) || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("normalized body %s, headers %v", got.body, got.header)
	}
	if got.header.Get("Webhook-Signature") == "" || got.header.Get("Webhook-Id") != "n-norm" {
		t.Fatalf("not signed for the shop: %v", got.header)
	}
}

func TestAuditRecordPerNotification(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	st := startStack(t, "store memory\n\t\taudit file "+path)
	good := mustSign(t, signer(), notifyParams("n-audit", "order-a", "TA", "2.50"))
	postForm(t, st.base+"/alipay/notify", good, nil)
	postForm(t, st.base+"/alipay/notify", good, nil)
	postForm(t, st.base+"/alipay/notify", []byte(strings.Replace(string(good), "total_amount=2.50", "total_amount=0.01", 1)), nil)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d audit records, want 3:\n%s", len(lines), data)
	}
	var recs []map[string]any
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("record is not JSON: %v: %s", err, l)
		}
		recs = append(recs, r)
	}
	for i, want := range [][2]string{{"forwarded", "forwarded"}, {"duplicate", "duplicate"}, {"rejected", "bad_signature"}} {
		if recs[i]["outcome"] != want[0] || recs[i]["reason"] != want[1] {
			t.Errorf("record %d: outcome %v reason %v, want %v", i, recs[i]["outcome"], recs[i]["reason"], want)
		}
	}
	r := recs[0]
	if r["provider"] != "alipay" || r["event_id"] != "n-audit" || r["amount"] != float64(250) || r["remote_ip"] != "127.0.0.1" {
		t.Errorf("record fields: %v", r)
	}
	if _, ok := r["query"]; !ok || r["query"] != nil {
		t.Errorf("query must be present and null: %v", r["query"])
	}
	body, _ := r["body"].(string)
	if !strings.Contains(body, "sign=***") || !strings.Contains(body, "out_trade_no=order-a") {
		t.Errorf("audit body not masked as expected: %s", body)
	}
}

// TestMemoryStoreSurvivesReload: a config reload must not forget which
// events were delivered, or the provider's next retry would reach the shop
// a second time.
func TestMemoryStoreSurvivesReload(t *testing.T) {
	st := startStack(t, "store memory")
	body := mustSign(t, signer(), notifyParams("n-reload", "order-r", "TR", "4.00"))
	resp, ack := postForm(t, st.base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")

	// Reload: the same store config, a changed route option.
	port := strings.TrimPrefix(st.base, "http://127.0.0.1:")
	startCaddy(t, testGlobals("store memory")+fmt.Sprintf(`http://127.0.0.1:%s {
	handle /alipay/notify {
		payguard alipay {
			app_id 2021000000000001
			seller_id 2088000000000001
			public_key_file %s
			max_body 16KiB
		}
		reverse_proxy %s
	}
}
`, port, testKeys.alipayPubFile, strings.TrimPrefix(st.shop.srv.URL, "http://")))
	// The old server closed its idle connections.
	http.DefaultClient.CloseIdleConnections()
	resp, ack = postFormAcrossReload(t, st.base+"/alipay/notify", body)
	want(t, resp, ack, 200, "duplicate", "success")
	if st.shop.count() != 1 {
		t.Fatalf("delivered again after a reload: shop got %d", st.shop.count())
	}
}
