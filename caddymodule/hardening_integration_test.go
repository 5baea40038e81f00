package caddymodule_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider/wechatpay"
	"github.com/payguard/payguard/internal/store/redistest"
)

// appKeyFile writes a fresh app private key (the query's signing key).
func appKeyFile(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	path := filepath.Join(t.TempDir(), "app_private.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// routeStack runs one Caddy with the given routes (each a full `handle`
// block; %[1]s in them is the shop's address) and the store lines.
func routeStack(t *testing.T, storeLines, routes string) (base string, shop *recorder) {
	t.Helper()
	keysFor(t)
	shop = newRecorder(t)
	port := freePort(t)
	startCaddy(t, testGlobals(storeLines)+fmt.Sprintf(`http://127.0.0.1:%d {
%s
}
`, port, fmt.Sprintf(routes, strings.TrimPrefix(shop.srv.URL, "http://"))))
	return fmt.Sprintf("http://127.0.0.1:%d", port), shop
}

// Issue 10 item 2: an Alipay service-market notification cannot be
// confirmed by alipay.trade.query. It used to get 403 query_mismatch for
// good; now it reaches the shop with Payguard-Query: skipped, and nobody
// was asked.
func TestQuerySkippedForWhatItCannotConfirm(t *testing.T) {
	var gatewayCalls atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatewayCalls.Add(1)
		http.Error(w, "not expected", 500)
	}))
	t.Cleanup(gw.Close)
	keysFor(t)
	routes := `	handle /alipay/notify {
		payguard alipay {
			app_id 2021000000000001
			public_key_file ` + testKeys.alipayPubFile + `
			query {
				endpoint ` + gw.URL + `/gateway.do
				private_key_file ` + appKeyFile(t) + `
			}
		}
		reverse_proxy %[1]s
	}`
	base, shop := routeStack(t, "store memory", routes)
	body := mustSign(t, signer(), map[string]string{
		"app_id": "2021000000000001", "notify_id": "sm-1", "notify_type": "servicemarket_order_notify",
		"notify_time": time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05"),
		"charset":     "utf-8", "version": "1.0", "commodity_order_id": "CO-1", "merchant_pid": "2088000000000001",
	})
	resp, ack := postForm(t, base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	if got := shop.last().header.Get("Payguard-Query"); got != "skipped" || gatewayCalls.Load() != 0 {
		t.Fatalf("Payguard-Query %q, %d gateway calls", got, gatewayCalls.Load())
	}
}

// Issue 10 item 3: a legacy Alipay handler's 200 "fail" is a retry, not a
// success: nothing is acknowledged, the claim is released, and the
// provider's retry is delivered once the shop answers "success".
func TestLegacyAlipayFailIsRetried(t *testing.T) {
	stores(t, func(t *testing.T, st *stack, _ *redistest.Server) {
		body := mustSign(t, signer(), notifyParams("n-legacy", "order-l", "TL", "3.00"))
		st.shop.setAnswer("fail")
		resp, ack := postForm(t, st.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 502, "upstream_failed", "fail")
		st.shop.setAnswer("  success\n")
		resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 200, "forwarded", "success")
		resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
		want(t, resp, ack, 200, "duplicate", "success")
		if st.shop.count() != 2 {
			t.Fatalf("shop got %d, want 2", st.shop.count())
		}
		// forward normalized: the shop is no legacy handler, a 2xx accepts.
		st.shop.setAnswer("ok")
		local := mustSign(t, signer(), notifyParams("n-legacy-norm", "order-ln", "TLN", "3.00"))
		resp, ack = postForm(t, st.base+"/alipay/local", local, nil)
		want(t, resp, ack, 200, "forwarded", "success")
	})
}

// storeLines runs f on the memory store and on a real redis-server.
func eachStore(t *testing.T, f func(t *testing.T, storeLines string)) {
	t.Run("memory", func(t *testing.T) { f(t, "store memory") })
	t.Run("redis", func(t *testing.T) { f(t, "store redis "+redistest.Start(t).URL()) })
}

// Issue 10 item 4: with claim_lease 1s and a shop that answers in 2.5s, a
// copy sent at 1.5s was claimed and forwarded too. The lease is renewed
// while the shop works; forward_timeout bounds the wait.
func TestSlowShopGetsOneCopy(t *testing.T) {
	eachStore(t, func(t *testing.T, storeLines string) {
		keysFor(t)
		base, shop := routeStack(t, storeLines, `	handle /alipay/notify {
		payguard alipay {
			app_id 2021000000000001
			public_key_file `+testKeys.alipayPubFile+`
			claim_lease 1s
		}
		reverse_proxy %[1]s
	}
	handle /alipay/bounded {
		payguard alipay {
			app_id 2021000000000001
			public_key_file `+testKeys.alipayPubFile+`
			forward_timeout 300ms
		}
		reverse_proxy %[1]s
	}`)
		arrived := shop.slow(2500 * time.Millisecond)
		body := mustSign(t, signer(), notifyParams("n-slow", "order-s", "TS", "1.00"))
		first := make(chan string)
		go func() {
			resp, _ := postForm(t, base+"/alipay/notify", body, nil)
			first <- resp.Header.Get("Payguard-Reason")
		}()
		<-arrived
		time.Sleep(1500 * time.Millisecond) // past the first lease
		resp, ack := postForm(t, base+"/alipay/notify", body, nil)
		want(t, resp, ack, 409, "in_flight", "fail")
		if got := <-first; got != "forwarded" {
			t.Fatalf("first copy: %s", got)
		}
		if shop.count() != 1 {
			t.Fatalf("shop got %d copies", shop.count())
		}

		// The bounded route gives up after 300ms, releases the claim and
		// answers 502; the retry is claimed at once, not in flight.
		bounded := mustSign(t, signer(), notifyParams("n-bounded", "order-b", "TB", "1.00"))
		start := time.Now()
		resp, ack = postForm(t, base+"/alipay/bounded", bounded, nil)
		want(t, resp, ack, 502, "upstream_failed", "fail")
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("forward_timeout 300ms took %s", d)
		}
		<-arrived
		shop.slow(0)
		resp, ack = postForm(t, base+"/alipay/bounded", bounded, nil)
		want(t, resp, ack, 200, "forwarded", "success")
	})
}

// Issue 10 item 5: Alipay signs no send time. A three-month-old
// notification was forwarded, and a replay after dedup_ttl was forwarded
// again; max_age (default dedup_ttl) on the signed notify_time stops both.
func TestMaxAgeStopsOldAndForgottenReplays(t *testing.T) {
	eachStore(t, func(t *testing.T, storeLines string) {
		keysFor(t)
		base, shop := routeStack(t, storeLines, `	handle /alipay/notify {
		payguard alipay {
			app_id 2021000000000001
			public_key_file `+testKeys.alipayPubFile+`
			dedup_ttl 2s
		}
		reverse_proxy %[1]s
	}`)
		old := notifyParams("n-old", "order-old", "TOLD", "1.00")
		old["notify_time"] = time.Now().AddDate(0, -3, 0).In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05")
		resp, ack := postForm(t, base+"/alipay/notify", mustSign(t, signer(), old), nil)
		want(t, resp, ack, 401, "stale_timestamp", "fail")

		body := mustSign(t, signer(), notifyParams("n-replay", "order-rp", "TRP", "1.00"))
		resp, ack = postForm(t, base+"/alipay/notify", body, nil)
		want(t, resp, ack, 200, "forwarded", "success")
		time.Sleep(2500 * time.Millisecond) // the store forgets the event
		resp, ack = postForm(t, base+"/alipay/notify", body, nil)
		want(t, resp, ack, 401, "stale_timestamp", "fail")
		if shop.count() != 1 {
			t.Fatalf("shop got %d", shop.count())
		}
	})
}

// Issue 10 items 6 and 7: a chunked request declaring the trailer
// Payguard-Amount: 999999, a Connection header naming payguard's own
// headers, and an unsigned ?total.amount beside the signed body.
func TestSenderCannotSpeakBesidePayguard(t *testing.T) {
	st := startStack(t, "store memory")
	body := mustSign(t, signer(), notifyParams("n-trailer", "order-tr", "TTR", "12.34"))
	req, _ := http.NewRequest("POST", st.base+"/alipay/notify", io.NopCloser(bytes.NewReader(body)))
	req.ContentLength = -1 // chunked, so trailers can follow
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Connection", "Payguard-Amount, Payguard-Status, X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Trailer = http.Header{"Payguard-Amount": {"999999"}, "X-Trailer": {"1"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want(t, resp, string(ack), 200, "forwarded", "success")
	got := st.shop.last()
	if len(got.trailer) != 0 {
		t.Errorf("trailers reached the shop: %v", got.trailer)
	}
	if got.header.Get("Payguard-Amount") != "1234" || got.header.Get("Payguard-Status") != "paid" || got.header.Get("X-Hop") != "" {
		t.Errorf("headers at the shop: %v", got.header)
	}

	for _, q := range []string{"total.amount=99999", "Total_Amount=1", "out_trade_no%5B%5D=x"} {
		shadowed := mustSign(t, signer(), notifyParams("n-q-"+q, "order-q", "TQ", "12.34"))
		resp, ack := postForm(t, st.base+"/alipay/notify?"+q, shadowed, nil)
		want(t, resp, ack, 400, "malformed", "fail")
	}
	if st.shop.count() != 1 {
		t.Fatalf("shop got %d", st.shop.count())
	}
}

// Issue 10 items 8 and 9: two Alipay apps behind one payguard no longer
// share duplicate-payment memory (app B's order 1001 is not app A's), and
// a partial refund keeps Payguard-Amount the payment's, with the refund in
// Payguard-Refund-Amount and Payguard-Refund-Id.
func TestMerchantNamespaceAndRefundHeaders(t *testing.T) {
	eachStore(t, func(t *testing.T, storeLines string) {
		keysFor(t)
		route := func(path, appID string) string {
			return `	handle ` + path + ` {
		payguard alipay {
			app_id ` + appID + `
			public_key_file ` + testKeys.alipayPubFile + `
		}
		reverse_proxy %[1]s
	}
`
		}
		base, shop := routeStack(t, storeLines, route("/a", "2021000000000001")+route("/b", "2021000000000002"))
		payA := notifyParams("n-A", "1001", "T-A", "100.00")
		payB := notifyParams("n-B", "1001", "T-B", "100.00")
		payB["app_id"], payB["auth_app_id"] = "2021000000000002", "2021000000000002"
		resp, ack := postForm(t, base+"/a", mustSign(t, signer(), payA), nil)
		want(t, resp, ack, 200, "forwarded", "success")
		resp, ack = postForm(t, base+"/b", mustSign(t, signer(), payB), nil)
		want(t, resp, ack, 200, "forwarded", "success")
		if got := shop.last().header.Get("Payguard-Duplicate-Payment"); got != "" {
			t.Fatalf("app B's first payment flagged as a duplicate of app A's %s", got)
		}

		refund := notifyParams("n-A-refund", "1001", "T-A", "100.00")
		refund["refund_fee"], refund["out_biz_no"] = "0.50", "RF-1"
		resp, ack = postForm(t, base+"/a", mustSign(t, signer(), refund), nil)
		want(t, resp, ack, 200, "forwarded", "success")
		got := shop.last().header
		if got.Get("Payguard-Status") != "refunded" || got.Get("Payguard-Amount") != "10000" ||
			got.Get("Payguard-Refund-Amount") != "50" || got.Get("Payguard-Refund-Id") != "RF-1" {
			t.Fatalf("refund headers %v", got)
		}
	})
}

// Issue 10 item 10: an async notification sent as the GET query of a
// mode return route was forwarded with Payguard-Status: paid, unclaimed,
// any number of times. It is malformed now, and a genuine return says
// pending (no query configured to confirm it).
func TestReturnRouteRefusesNotifyBodies(t *testing.T) {
	st := startStack(t, "store memory")
	notify := string(mustSign(t, signer(), notifyParams("n-ret", "order-ret", "TRET", "1.00")))
	resp, err := http.Get(st.base + "/alipay/return?" + notify)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Payguard-Reason") != "malformed" || st.shop.count() != 0 {
		t.Fatalf("notify body on the return route: %d %s, shop %d", resp.StatusCode, resp.Header.Get("Payguard-Reason"), st.shop.count())
	}
	ret := string(mustSign(t, signer(), returnParams("order-ret", "TRET", "1.00")))
	resp, err = http.Get(st.base + "/alipay/return?" + ret)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || st.shop.last().header.Get("Payguard-Status") != "pending" || st.shop.last().header.Get("Payguard-Query") != "skipped" {
		t.Fatalf("return: %d, shop headers %v", resp.StatusCode, st.shop.last().header)
	}
}

// v2Route is a wechatpay_v2 route with a fresh API key; it returns the
// route's Caddyfile block and the signer WeChat would use.
func v2Route(t *testing.T, path, extra string) (string, *wechatpay.V2Signer) {
	t.Helper()
	key := []byte("0123456789abcdef0123456789abcdef")
	keyFile := filepath.Join(t.TempDir(), "v2_api_key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return `	handle ` + path + ` {
		payguard wechatpay_v2 {
			mch_id 1900000109
			app_id wx2421b1c4370ec43b
			api_key_file ` + keyFile + `
			query off` + extra + `
		}
		reverse_proxy %[1]s
	}
`, &wechatpay.V2Signer{APIKey: key}
}

func v2Payment(txn, order, fee string) map[string]string {
	return map[string]string{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": "wx2421b1c4370ec43b", "mch_id": "1900000109",
		"nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "trade_type": "JSAPI",
		"bank_type": "CMC", "total_fee": fee, "cash_fee": fee, "fee_type": "CNY", "transaction_id": txn,
		"out_trade_no": order, "time_end": time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102150405"),
	}
}

// Issue 10 items 3 and 11 on WeChat Pay v2: a legacy handler's 200 with
// return_code FAIL is a retry; a signed orderquery answer posted to the
// notify route is not a notification; with forward original, XML that a
// naive parser reads differently (split CDATA, character references,
// added empty elements) never reaches the shop.
func TestWeChatV2Hardening(t *testing.T) {
	route, s := v2Route(t, "/wx/v2", "")
	base, shop := routeStack(t, "store memory", route)

	body := s.SignNotify(v2Payment("4200000001", "wx-order-1", "100"))
	shop.setAnswer("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>busy</return_msg></xml>")
	resp, ack := postForm(t, base+"/wx/v2", body, nil)
	if resp.StatusCode != 502 || resp.Header.Get("Payguard-Reason") != "upstream_failed" || !strings.Contains(ack, "FAIL") {
		t.Fatalf("legacy FAIL: %d %s %s", resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack)
	}
	shop.setAnswer("")
	resp, _ = postForm(t, base+"/wx/v2", body, nil)
	if resp.Header.Get("Payguard-Reason") != "forwarded" {
		t.Fatalf("retry: %s", resp.Header.Get("Payguard-Reason"))
	}

	answer := v2Payment("4200000002", "wx-order-2", "100")
	answer["trade_state"], answer["trade_state_desc"] = "SUCCESS", "支付成功"
	sent := shop.count()
	for name, b := range map[string]string{
		"signed orderquery answer": string(s.SignResponse(answer)),
		"split CDATA": strings.Replace(string(s.SignNotify(v2Payment("4200000003", "wx-order-3", "100"))),
			"<![CDATA[100]]>", "<![CDATA[1]]><![CDATA[00]]>", 1),
		"character reference": strings.Replace(string(s.SignNotify(v2Payment("4200000004", "wx-order-4", "100"))),
			"<total_fee><![CDATA[100]]>", "<total_fee>&#49;00", 1),
		"added empty element": strings.Replace(string(s.SignNotify(v2Payment("4200000005", "wx-order-5", "100"))),
			"</xml>", "<coupon_fee></coupon_fee></xml>", 1),
	} {
		resp, _ := postForm(t, base+"/wx/v2", []byte(b), nil)
		if resp.StatusCode != 400 || resp.Header.Get("Payguard-Reason") != "malformed" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Header.Get("Payguard-Reason"))
		}
	}
	if shop.count() != sent {
		t.Fatalf("refused messages reached the shop")
	}
}

// Issue 10 item 12: inline secrets show verbatim at the admin API's
// /config/. upstream_secret has a _file twin now, and every inline secret
// is named in a warning at start while the admin API is on.
func TestInlineSecretsWarnedWhileAdminOn(t *testing.T) {
	keysFor(t)
	secretFile := filepath.Join(t.TempDir(), "upstream")
	if err := os.WriteFile(secretFile, []byte("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(admin string) (logged []byte, shop *recorder, base string) {
		shop = newRecorder(t)
		logFile := filepath.Join(t.TempDir(), "caddy.log")
		port := freePort(t)
		startCaddy(t, fmt.Sprintf(`{
	%s
	auto_https off
	persist_config off
	log {
		output file %s
		format json
	}
}
http://127.0.0.1:%d {
	handle /wx {
		payguard wechatpay_v2 {
			mch_id 1900000109
			app_id wx2421b1c4370ec43b
			api_key 0123456789abcdef0123456789abcdef
			upstream_secret whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
			query off
		}
		reverse_proxy %s
	}
	handle /alipay {
		payguard alipay {
			app_id 2021000000000001
			public_key_file %s
			forward normalized
			upstream_secret_file %s
		}
		reverse_proxy %[4]s
	}
}
`, admin, logFile, port, strings.TrimPrefix(shop.srv.URL, "http://"), testKeys.alipayPubFile, secretFile))
		logged, _ = os.ReadFile(logFile)
		return logged, shop, fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	logged, shop, base := run(fmt.Sprintf("admin 127.0.0.1:%d", freePort(t)))
	for _, opt := range []string{`"option":"api_key"`, `"option":"upstream_secret"`} {
		if !bytes.Contains(logged, []byte(opt)) {
			t.Errorf("no warning for %s:\n%s", opt, logged)
		}
	}
	if bytes.Contains(logged, []byte("0123456789abcdef0123456789abcdef")) || bytes.Contains(logged, []byte("whsec_MDEy")) {
		t.Fatal("a warning quotes the secret")
	}
	// The file twin signs what is forwarded like the inline secret would.
	resp, ack := postForm(t, base+"/alipay", mustSign(t, signer(), notifyParams("n-file", "order-file", "TF", "1.00")), nil)
	want(t, resp, ack, 200, "forwarded", "success")
	if shop.last().header.Get("Webhook-Signature") == "" {
		t.Fatalf("not signed with upstream_secret_file: %v", shop.last().header)
	}

	logged, _, _ = run("admin off")
	if bytes.Contains(logged, []byte("admin API shows it")) {
		t.Fatalf("warned with the admin API off:\n%s", logged)
	}
}
