package caddymodule_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/payguard/payguard/internal/provider/wechatpay"
	"github.com/payguard/payguard/internal/sim"
	"github.com/payguard/payguard/internal/store/redistest"
)

// The helpers here are prefixed with wx: integration_test.go, in the same
// test package, has the Alipay ones (whose recorder, freePort and
// startCaddy are reused).

// wxKeys is the WeChat Pay key material, generated once per test binary:
// the public-key-mode platform key (the simulator signs with it), a second
// platform key behind a self-signed platform certificate (certificate
// mode), and the merchant's API key, which payguard signs v3 queries with
// and which doubles as "a key that is not WeChat's".
var wxKeys struct {
	once           sync.Once
	platform       *rsa.PrivateKey
	certKey        *rsa.PrivateKey
	merchant       *rsa.PrivateKey
	pubKeyID       string
	certSerial     string
	merchantSerial string
	apiV3Key       []byte
	apiKey         []byte
	dir            string
}

func wxKeysFor(t *testing.T) {
	t.Helper()
	keysFor(t) // its directory is removed by TestMain; ours lives inside it
	wxKeys.once.Do(func() {
		gen := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return k
		}
		wxKeys.platform, wxKeys.certKey, wxKeys.merchant = gen(), gen(), gen()
		wxKeys.pubKeyID = sim.PublicKeyID(&wxKeys.platform.PublicKey)
		wxKeys.merchantSerial = sim.MerchantSerial(&wxKeys.merchant.PublicKey)
		wxKeys.apiV3Key = []byte("0123456789abcdefghijABCDEFGHIJ01")
		wxKeys.apiKey = []byte("v2ApiKey0123456789abcdefghijklmn")

		serial := new(big.Int).SetBytes([]byte("payguard-wx-cert-01"))
		wxKeys.certSerial = strings.ToUpper(serial.Text(16))
		tmpl := &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: "test platform certificate"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &wxKeys.certKey.PublicKey, wxKeys.certKey)
		if err != nil {
			panic(err)
		}
		pubDER, _ := x509.MarshalPKIXPublicKey(&wxKeys.platform.PublicKey)
		privDER, _ := x509.MarshalPKCS8PrivateKey(wxKeys.merchant)
		wxKeys.dir = filepath.Join(testKeys.dir, "wechatpay")
		if err := os.MkdirAll(wxKeys.dir, 0o700); err != nil {
			panic(err)
		}
		for name, data := range map[string][]byte{
			"platform_cert.pem":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
			"platform_public.pem":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
			"merchant_private.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
			"apiv3_key":            wxKeys.apiV3Key,
			"api_key":              wxKeys.apiKey,
		} {
			if err := os.WriteFile(filepath.Join(wxKeys.dir, name), data, 0o600); err != nil {
				panic(err)
			}
		}
	})
}

// wxStack is one running Caddy with the WeChat Pay routes in front of a
// recording shop, and the simulator as the query endpoint.
type wxStack struct {
	base string
	shop *recorder
	v3   *sim.WeChatV3
	v2   *sim.WeChatV2
	book *sim.OrderBook
}

// The env variable the /v3/query route reads its APIv3 key from: the
// placeholder is resolved at provision.
const wxAPIv3Env = "PAYGUARD_TEST_WECHATPAY_APIV3_KEY"

func startWeChatStack(t *testing.T, storeLines string) *wxStack {
	t.Helper()
	return startWeChatStackLog(t, storeLines, "output discard")
}

// startWeChatStackLog is startWeChatStack with the lines of the global log
// block.
func startWeChatStackLog(t *testing.T, storeLines, logLines string) *wxStack {
	t.Helper()
	wxKeysFor(t)
	t.Setenv(wxAPIv3Env, string(wxKeys.apiV3Key))
	wc := sim.WeChatConfig{
		PlatformKey: wxKeys.platform, PublicKeyID: wxKeys.pubKeyID, APIv3Key: wxKeys.apiV3Key,
		MerchantPublicKey: &wxKeys.merchant.PublicKey, MerchantSerial: wxKeys.merchantSerial,
		APIKey: wxKeys.apiKey,
	}
	v3, err := sim.NewWeChatV3(wc)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := sim.NewWeChatV2(wc)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.NewServer(sim.ServerConfig{Providers: []sim.Provider{v3, v2}})
	if err != nil {
		t.Fatal(err)
	}
	sandbox := httptest.NewServer(srv)
	t.Cleanup(sandbox.Close)

	shop := newRecorder(t)
	port := freePort(t)
	f := func(name string) string { return filepath.Join(wxKeys.dir, name) }
	cf := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	log {
		%[16]s
	}
	payguard {
		%[1]s
	}
}

http://127.0.0.1:%[2]d {
	# Both v3 key modes at once, as during WeChat's migration.
	handle /v3/notify {
		payguard wechatpay_v3 {
			mch_id %[4]s
			app_id %[5]s
			api_v3_key_file %[6]s
			platform_cert_file %[7]s
			public_key_id %[8]s
			public_key_file %[9]s
			claim_lease 5s
		}
		reverse_proxy %[3]s
	}
	handle /v3/query {
		payguard wechatpay_v3 {
			mch_id %[4]s
			api_v3_key {env.%[13]s}
			public_key_id %[8]s
			public_key_file %[9]s
			query {
				endpoint %[10]s
				merchant_serial %[11]s
				private_key_file %[12]s
			}
		}
		reverse_proxy %[3]s
	}
	handle /v3/normalized {
		payguard wechatpay_v3 {
			mch_id %[4]s
			api_v3_key_file %[6]s
			public_key_id %[8]s
			public_key_file %[9]s
			forward normalized
		}
		reverse_proxy %[3]s
	}
	handle /v2/notify {
		payguard wechatpay_v2 {
			mch_id %[4]s
			app_id %[5]s
			api_key_file %[14]s
			claim_lease 5s
			query off
		}
		reverse_proxy %[3]s
	}
	handle /v2/query {
		payguard wechatpay_v2 {
			mch_id %[4]s
			app_id %[5]s
			api_key_file %[14]s
			query {
				endpoint %[15]s
			}
		}
		reverse_proxy %[3]s
	}
	handle /v2/hmac {
		payguard wechatpay_v2 {
			mch_id %[4]s
			app_id %[5]s
			api_key_file %[14]s
			sign_type HMAC-SHA256
			query off
		}
		reverse_proxy %[3]s
	}
}
`, storeLines, port, strings.TrimPrefix(shop.srv.URL, "http://"),
		sim.DefaultWeChatMchID, sim.DefaultWeChatAppID,
		f("apiv3_key"), f("platform_cert.pem"), wxKeys.pubKeyID, f("platform_public.pem"),
		v3.Endpoint(sandbox.URL), wxKeys.merchantSerial, f("merchant_private.pem"), wxAPIv3Env,
		f("api_key"), v2.Endpoint(sandbox.URL), logLines)
	startCaddy(t, cf)
	return &wxStack{base: fmt.Sprintf("http://127.0.0.1:%d", port), shop: shop, v3: v3, v2: v2, book: srv.Book()}
}

// wxStores runs f on the memory store and on a real redis-server.
func wxStores(t *testing.T, f func(t *testing.T, st *wxStack)) {
	t.Run("memory", func(t *testing.T) {
		f(t, startWeChatStack(t, "store memory"))
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, startWeChatStack(t, "store redis "+srv.URL()))
	})
}

// order returns a prepared simulator order for provider (wechatpay_v3 or
// wechatpay_v2), registered with the sandbox's query API when register.
func (st *wxStack) order(t *testing.T, provider, amount string, register bool, mutate ...func(*sim.Order)) sim.Order {
	t.Helper()
	o := sim.Order{Provider: provider, OutTradeNo: sim.NewOutTradeNo(time.Now()), Amount: amount}
	for _, m := range mutate {
		m(&o)
	}
	var p sim.Provider = st.v3
	if provider == wechatpay.V2Name {
		p = st.v2
	}
	if err := p.Prepare(&o, time.Now()); err != nil {
		t.Fatal(err)
	}
	if register {
		st.book.Put(o)
	}
	return o
}

// v3Notify is the notification the simulator sends for o, freshly signed
// (a new nonce and timestamp, as WeChat signs every delivery).
func (st *wxStack) v3Notify(t *testing.T, o sim.Order, tamper string) (http.Header, []byte) {
	t.Helper()
	m, err := st.v3.BuildNotify(&o, tamper, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m.Header, m.Body
}

// v3Plaintext is the decrypted resource of o's notification.
func (st *wxStack) v3Plaintext(t *testing.T, o sim.Order) []byte {
	t.Helper()
	_, body := st.v3Notify(t, o, "")
	var env struct {
		Resource wechatpay.V3Resource `json:"resource"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	pt, err := wechatpay.DecryptV3Resource(wxKeys.apiV3Key, env.Resource.AssociatedData, env.Resource.Nonce, env.Resource.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

// v3Sign signs o's notification with s at now (another key, serial,
// APIv3 key or clock than the simulator's).
func (st *wxStack) v3Sign(t *testing.T, s *wechatpay.V3Signer, o sim.Order, now time.Time) (http.Header, []byte) {
	t.Helper()
	h, body, err := s.SignNotify("TRANSACTION.SUCCESS", json.RawMessage(st.v3Plaintext(t, o)), o.EventID, now)
	if err != nil {
		t.Fatal(err)
	}
	return h, body
}

// wxResign signs body again with the given nonce and the current time, as
// the holder of key would: a valid signature over a chosen nonce.
func wxResign(t *testing.T, h http.Header, body []byte, key *rsa.PrivateKey, nonce string) http.Header {
	t.Helper()
	h = h.Clone()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	h.Set(wechatpay.HeaderTimestamp, ts)
	h.Set(wechatpay.HeaderNonce, nonce)
	h.Set(wechatpay.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return h
}

// v2Notify is the v2 payment notice the simulator sends for o (MD5).
func (st *wxStack) v2Notify(t *testing.T, o sim.Order, tamper string) []byte {
	t.Helper()
	m, err := st.v2.BuildNotify(&o, tamper, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m.Body
}

func wxPost(t *testing.T, url string, h http.Header, body []byte) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(body)))
	for k, v := range h {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/xml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// wantV3 checks a v3 acknowledgement: 204 without a body for success and
// duplicates, otherwise the status with {"code":"FAIL","message":reason}.
func wantV3(t *testing.T, resp *http.Response, body string, status int, reason string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Payguard-Reason") != reason {
		t.Fatalf("got %d %q body %q; want %d %q", resp.StatusCode, resp.Header.Get("Payguard-Reason"), body, status, reason)
	}
	if status == http.StatusNoContent {
		if body != "" {
			t.Fatalf("204 with a body %q", body)
		}
		return
	}
	if want := `{"code":"FAIL","message":"` + reason + `"}`; body != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("failure ack %q (%s), want %s", body, resp.Header.Get("Content-Type"), want)
	}
}

// wantV2 checks a v2 acknowledgement: the status, and XML return_code
// SUCCESS (accepted and duplicates) or FAIL with the reason as return_msg.
func wantV2(t *testing.T, resp *http.Response, body string, status int, reason string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Payguard-Reason") != reason {
		t.Fatalf("got %d %q body %q; want %d %q", resp.StatusCode, resp.Header.Get("Payguard-Reason"), body, status, reason)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	f, err := wechatpay.ParseXML([]byte(body))
	if err != nil {
		t.Fatalf("ack %q is not v2 XML: %v", body, err)
	}
	if reason == "forwarded" || reason == "duplicate" {
		if f["return_code"] != "SUCCESS" || f["return_msg"] != "OK" {
			t.Fatalf("success ack %q", body)
		}
		return
	}
	if f["return_code"] != "FAIL" || f["return_msg"] != reason {
		t.Fatalf("failure ack %q, want FAIL %s", body, reason)
	}
}

func wantHeaders(t *testing.T, got recorded, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got.header.Get(k) != v || len(got.header.Values(k)) != 1 {
			t.Errorf("%s = %q, want %q", k, got.header.Values(k), v)
		}
	}
}

func TestWeChatPayV3ValidForwardedOnce(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		// Public-key mode: the simulator's serial is the public key id.
		o := st.order(t, wechatpay.V3Name, "12.34", false)
		h, body := st.v3Notify(t, o, "")
		h.Set("Payguard-Amount", "1") // a client's Payguard-* header never reaches the shop
		resp, ack := wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 204, "forwarded")
		if st.shop.count() != 1 {
			t.Fatalf("shop got %d", st.shop.count())
		}
		got := st.shop.last()
		wantHeaders(t, got, map[string]string{
			"Payguard-Provider": "wechatpay_v3", "Payguard-Event-Id": o.EventID, "Payguard-Out-Trade-No": o.OutTradeNo,
			"Payguard-Transaction-Id": o.TransactionID, "Payguard-Amount": "1234", "Payguard-Currency": "CNY",
			"Payguard-Status": "paid", "Payguard-Query": "skipped",
		})
		if got.body != string(body) {
			t.Error("forward original changed the body")
		}

		// WeChat's retry of the same event, signed afresh: acknowledged,
		// not delivered again.
		h2, body2 := st.v3Notify(t, o, "")
		resp, ack = wxPost(t, st.base+"/v3/notify", h2, body2)
		wantV3(t, resp, ack, 204, "duplicate")
		// A byte-identical copy reuses the signed nonce: a replay.
		resp, ack = wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 401, "replayed_nonce")
		if st.shop.count() != 1 {
			t.Fatalf("shop got %d, want 1", st.shop.count())
		}

		// Platform-certificate mode on the same route: the serial chooses.
		o2 := st.order(t, wechatpay.V3Name, "0.01", false)
		h, body = st.v3Sign(t, &wechatpay.V3Signer{PlatformKey: wxKeys.certKey, Serial: wxKeys.certSerial, APIv3Key: wxKeys.apiV3Key}, o2, time.Now())
		resp, ack = wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 204, "forwarded")
		wantHeaders(t, st.shop.last(), map[string]string{"Payguard-Event-Id": o2.EventID, "Payguard-Amount": "1"})
		if st.shop.count() != 2 {
			t.Fatalf("shop got %d, want 2", st.shop.count())
		}
	})
}

func TestWeChatPayV3Rejections(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		o := st.order(t, wechatpay.V3Name, "10.00", false)
		signer := func(key *rsa.PrivateKey, serial string, apiV3Key []byte) *wechatpay.V3Signer {
			return &wechatpay.V3Signer{PlatformKey: key, Serial: serial, APIv3Key: apiV3Key}
		}
		tampered := func(field string) func() (http.Header, []byte) {
			return func() (http.Header, []byte) { return st.v3Notify(t, o, field) }
		}
		signedBy := func(s *wechatpay.V3Signer, now time.Time) func() (http.Header, []byte) {
			return func() (http.Header, []byte) { return st.v3Sign(t, s, o, now) }
		}
		cases := []struct {
			name   string
			msg    func() (http.Header, []byte)
			status int
			reason string
		}{
			{"tampered amount (re-encrypted)", tampered("amount"), 401, "bad_signature"},
			{"tampered out_trade_no", tampered("out_trade_no"), 401, "bad_signature"},
			{"tampered event id", tampered("id"), 401, "bad_signature"},
			{"tampered nonce header", tampered("wechatpay-nonce"), 401, "bad_signature"},
			{"tampered timestamp header", tampered("wechatpay-timestamp"), 401, "bad_signature"},
			{"tampered signature", tampered("wechatpay-signature"), 401, "bad_signature"},
			{"weaker signature type", tampered("wechatpay-signature-type"), 401, "bad_signature"},
			{"unknown public key id", tampered("wechatpay-serial"), 401, "unknown_key"},
			{"unknown certificate serial", signedBy(signer(wxKeys.certKey, "7E57AB1E0000000000000000000000000000DEAD", wxKeys.apiV3Key), time.Now()), 401, "unknown_key"},
			{"another key under the public key id", signedBy(signer(wxKeys.merchant, wxKeys.pubKeyID, wxKeys.apiV3Key), time.Now()), 401, "bad_signature"},
			{"another key under the certificate serial", signedBy(signer(wxKeys.merchant, wxKeys.certSerial, wxKeys.apiV3Key), time.Now()), 401, "bad_signature"},
			{"stale timestamp", signedBy(signer(wxKeys.platform, wxKeys.pubKeyID, wxKeys.apiV3Key), time.Now().Add(-6*time.Minute)), 401, "stale_timestamp"},
			{"timestamp in the future", signedBy(signer(wxKeys.platform, wxKeys.pubKeyID, wxKeys.apiV3Key), time.Now().Add(6*time.Minute)), 401, "stale_timestamp"},
			{"resource that does not decrypt (another APIv3 key)", signedBy(signer(wxKeys.platform, wxKeys.pubKeyID, []byte("another-apiv3-key-of-32-bytes-xx")), time.Now()), 401, "bad_signature"},
			{"signature probe", func() (http.Header, []byte) {
				h, body := st.v3Notify(t, o, "")
				h.Set(wechatpay.HeaderSignature, "WECHATPAY/SIGNTEST/"+base64.StdEncoding.EncodeToString([]byte("probe")))
				return h, body
			}, 401, "bad_signature"},
			{"signature header missing", func() (http.Header, []byte) {
				h, body := st.v3Notify(t, o, "")
				h.Del(wechatpay.HeaderSignature)
				return h, body
			}, 401, "bad_signature"},
			{"another merchant's notification", func() (http.Header, []byte) {
				other := st.order(t, wechatpay.V3Name, "10.00", false, func(o *sim.Order) { o.MchID = "1900000002" })
				return st.v3Notify(t, other, "")
			}, 401, "bad_signature"},
			{"signed but not JSON", func() (http.Header, []byte) {
				h, _ := st.v3Notify(t, o, "")
				body := []byte("<xml>not json</xml>")
				return wxResign(t, h, body, wxKeys.platform, "nonce-not-json"), body
			}, 400, "malformed"},
		}
		for _, c := range cases {
			h, body := c.msg()
			resp, ack := wxPost(t, st.base+"/v3/notify", h, body)
			if resp.StatusCode != c.status || resp.Header.Get("Payguard-Reason") != c.reason {
				t.Errorf("%s: got %d %q %q, want %d %q", c.name, resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack, c.status, c.reason)
				continue
			}
			wantV3(t, resp, ack, c.status, c.reason)
		}
		if n := st.shop.count(); n != 0 {
			t.Fatalf("shop got %d rejected notifications", n)
		}
		// The genuine notification still goes through afterwards.
		h, body := st.v3Notify(t, o, "")
		resp, ack := wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 204, "forwarded")
	})
}

func TestWeChatPayV3ReplayedNonce(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		first := st.order(t, wechatpay.V3Name, "1.00", false)
		h, body := st.v3Notify(t, first, "")
		resp, ack := wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 204, "forwarded")
		// Another event, correctly signed just now, but with the nonce of
		// the first: refused.
		second := st.order(t, wechatpay.V3Name, "2.00", false)
		h2, body2 := st.v3Notify(t, second, "")
		resp, ack = wxPost(t, st.base+"/v3/notify", wxResign(t, h2, body2, wxKeys.platform, h.Get(wechatpay.HeaderNonce)), body2)
		wantV3(t, resp, ack, 401, "replayed_nonce")
		if st.shop.count() != 1 {
			t.Fatalf("shop got %d, want 1", st.shop.count())
		}
		// With a nonce of its own it is delivered.
		resp, ack = wxPost(t, st.base+"/v3/notify", h2, body2)
		wantV3(t, resp, ack, 204, "forwarded")
	})
}

func TestWeChatPayV3ConcurrentCopiesOnce(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		o := st.order(t, wechatpay.V3Name, "3.00", false)
		type msg struct {
			h    http.Header
			body []byte
		}
		// Twenty deliveries of one event, each signed afresh.
		var msgs []msg
		for range 20 {
			h, body := st.v3Notify(t, o, "")
			msgs = append(msgs, msg{h, body})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		reasons := map[string]int{}
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := wxPost(t, st.base+"/v3/notify", m.h, m.body)
				mu.Lock()
				reasons[fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Payguard-Reason"))]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if st.shop.count() != 1 || reasons["204 forwarded"] != 1 || reasons["204 duplicate"]+reasons["409 in_flight"] != 19 {
			t.Fatalf("shop got %d, answers %v", st.shop.count(), reasons)
		}
	})
}

func TestWeChatPayV3UpstreamFailureThenRetry(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		o := st.order(t, wechatpay.V3Name, "5.00", false)
		st.shop.setStatus(500)
		h, body := st.v3Notify(t, o, "")
		resp, ack := wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 502, "upstream_failed")
		st.shop.setStatus(200)
		h, body = st.v3Notify(t, o, "")
		resp, ack = wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 204, "forwarded")
		h, body = st.v3Notify(t, o, "")
		resp, ack = wxPost(t, st.base+"/v3/notify", h, body)
		wantV3(t, resp, ack, 204, "duplicate")
		if n := st.shop.count(); n != 2 { // the refused one, then the accepted retry
			t.Fatalf("shop saw %d requests, want 2", n)
		}
	})
}

func TestWeChatPayV3Query(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		// The sandbox agrees: confirmed.
		o := st.order(t, wechatpay.V3Name, "66.60", true)
		h, body := st.v3Notify(t, o, "")
		resp, ack := wxPost(t, st.base+"/v3/query", h, body)
		wantV3(t, resp, ack, 204, "forwarded")
		wantHeaders(t, st.shop.last(), map[string]string{"Payguard-Query": "confirmed", "Payguard-Amount": "6660", "Payguard-Out-Trade-No": o.OutTradeNo})

		for _, c := range []struct {
			name string
			o    sim.Order
		}{
			{"WeChat answers another amount", st.order(t, wechatpay.V3Name, "100.00", true, func(o *sim.Order) { o.QueryAmount = "0.01" })},
			{"WeChat says the order is unpaid", st.order(t, wechatpay.V3Name, "100.00", true, func(o *sim.Order) { o.QueryStatus = "NOTPAY" })},
			{"WeChat does not know the order", st.order(t, wechatpay.V3Name, "100.00", false)},
		} {
			h, body := st.v3Notify(t, c.o, "")
			resp, ack := wxPost(t, st.base+"/v3/query", h, body)
			if resp.StatusCode != 403 || resp.Header.Get("Payguard-Reason") != "query_mismatch" {
				t.Errorf("%s: %d %s %q", c.name, resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack)
				continue
			}
			wantV3(t, resp, ack, 403, "query_mismatch")
		}
		if n := st.shop.count(); n != 1 {
			t.Fatalf("shop got %d, want only the confirmed one", n)
		}
	})
}

func TestWeChatPayV3ForwardNormalized(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		o := st.order(t, wechatpay.V3Name, "0.10", false)
		h, body := st.v3Notify(t, o, "")
		resp, ack := wxPost(t, st.base+"/v3/normalized", h, body)
		wantV3(t, resp, ack, 204, "forwarded")
		got := st.shop.last()
		if got.header.Get("Content-Type") != "application/json" || strings.Contains(got.body, "ciphertext") {
			t.Fatalf("normalized forward: %v %s", got.header, got.body)
		}
		var n struct {
			ID, Provider, OutTradeNo, Status string
			Amount                           int64
			Raw                              struct {
				MchID         string `json:"mchid"`
				OutTradeNo    string `json:"out_trade_no"`
				TransactionID string `json:"transaction_id"`
				TradeState    string `json:"trade_state"`
				Amount        struct {
					Total int64 `json:"total"`
				} `json:"amount"`
			} `json:"raw"`
		}
		if err := json.Unmarshal([]byte(got.body), &n); err != nil {
			t.Fatalf("normalized body %s: %v", got.body, err)
		}
		// The decrypted resource is in raw: the shop needs no APIv3 key.
		if n.ID != o.EventID || n.Provider != "wechatpay_v3" || n.Amount != 10 || n.Status != "paid" ||
			n.Raw.MchID != sim.DefaultWeChatMchID || n.Raw.OutTradeNo != o.OutTradeNo ||
			n.Raw.TransactionID != o.TransactionID || n.Raw.TradeState != "SUCCESS" || n.Raw.Amount.Total != 10 {
			t.Fatalf("normalized body %s", got.body)
		}
	})
}

func TestWeChatPayV2ValidForwardedOnce(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		o := st.order(t, wechatpay.V2Name, "12.34", false)
		body := st.v2Notify(t, o, "")
		resp, ack := wxPost(t, st.base+"/v2/notify", nil, body)
		wantV2(t, resp, ack, 200, "forwarded")
		if st.shop.count() != 1 {
			t.Fatalf("shop got %d", st.shop.count())
		}
		got := st.shop.last()
		// query off: the orderquery (on by default for v2) is not asked.
		wantHeaders(t, got, map[string]string{
			"Payguard-Provider": "wechatpay_v2", "Payguard-Event-Id": o.TransactionID, "Payguard-Out-Trade-No": o.OutTradeNo,
			"Payguard-Transaction-Id": o.TransactionID, "Payguard-Amount": "1234", "Payguard-Currency": "CNY",
			"Payguard-Status": "paid", "Payguard-Query": "skipped",
		})
		if got.body != string(body) {
			t.Error("forward original changed the body")
		}
		// v2 retries repeat the notice byte for byte (nonce_str too).
		resp, ack = wxPost(t, st.base+"/v2/notify", nil, body)
		wantV2(t, resp, ack, 200, "duplicate")
		if st.shop.count() != 1 {
			t.Fatalf("duplicate delivered: shop got %d", st.shop.count())
		}

		// HMAC-SHA256 on the route configured for it; the MD5 notice is a
		// downgrade there.
		o2 := st.order(t, wechatpay.V2Name, "2.00", false)
		fields, err := wechatpay.ParseXML(st.v2Notify(t, o2, ""))
		if err != nil {
			t.Fatal(err)
		}
		delete(fields, "sign")
		resp, ack = wxPost(t, st.base+"/v2/hmac", nil, st.v2Notify(t, o2, ""))
		wantV2(t, resp, ack, 401, "bad_signature")
		fields["sign_type"] = wechatpay.SignTypeHMACSHA256
		hmacBody := (&wechatpay.V2Signer{APIKey: wxKeys.apiKey, SignType: wechatpay.SignTypeHMACSHA256}).SignNotify(fields)
		resp, ack = wxPost(t, st.base+"/v2/hmac", nil, hmacBody)
		wantV2(t, resp, ack, 200, "forwarded")

		// A refund notice: no sign, req_info encrypted with the API key.
		refund := (&wechatpay.V2Signer{APIKey: wxKeys.apiKey}).SignRefundNotify(
			map[string]string{"return_code": "SUCCESS", "appid": sim.DefaultWeChatAppID, "mch_id": sim.DefaultWeChatMchID, "nonce_str": "N0nceRefund"},
			wxRefundInfo(o))
		resp, ack = wxPost(t, st.base+"/v2/notify", nil, refund)
		wantV2(t, resp, ack, 200, "forwarded")
		wantHeaders(t, st.shop.last(), map[string]string{
			"Payguard-Event-Id": o.TransactionID + ":refund:50000000012026112300001", "Payguard-Status": "refunded", "Payguard-Amount": "1000",
		})
		if st.shop.count() != 3 {
			t.Fatalf("shop got %d, want 3", st.shop.count())
		}
	})
}

func wxRefundInfo(o sim.Order) map[string]string {
	return map[string]string{
		"transaction_id": o.TransactionID, "out_trade_no": o.OutTradeNo,
		"refund_id": "50000000012026112300001", "out_refund_no": "R" + o.OutTradeNo,
		"total_fee": "1234", "refund_fee": "1000", "settlement_refund_fee": "1000",
		"refund_status": "SUCCESS", "success_time": "2026-11-23 12:00:00",
		"refund_recv_accout": "支付用户零钱", "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS", "refund_request_source": "API",
	}
}

func TestWeChatPayV2Rejections(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		o := st.order(t, wechatpay.V2Name, "10.00", false)
		good := string(st.v2Notify(t, o, ""))
		xmlDecl := `<?xml version="1.0" encoding="UTF-8"?>`
		otherKey := []byte("another-v2-api-key-0123456789abc")
		cases := []struct {
			name   string
			body   string
			status int
			reason string
		}{
			{"tampered total_fee", string(st.v2Notify(t, o, "total_fee")), 401, "bad_signature"},
			{"tampered out_trade_no", string(st.v2Notify(t, o, "out_trade_no")), 401, "bad_signature"},
			{"tampered sign", string(st.v2Notify(t, o, "sign")), 401, "bad_signature"},
			{"signed with the other algorithm", string(st.v2Notify(t, o, "sign_type")), 401, "bad_signature"},
			{"tampered appid", string(st.v2Notify(t, o, "appid")), 401, "bad_signature"},
			{"signed with another API key", func() string {
				f, _ := wechatpay.ParseXML([]byte(good))
				return string((&wechatpay.V2Signer{APIKey: otherKey}).SignNotify(f))
			}(), 401, "bad_signature"},
			{"refund notice encrypted with another API key", string((&wechatpay.V2Signer{APIKey: otherKey}).SignRefundNotify(
				map[string]string{"return_code": "SUCCESS", "appid": sim.DefaultWeChatAppID, "mch_id": sim.DefaultWeChatMchID, "nonce_str": "N0nce"},
				wxRefundInfo(o))), 401, "bad_signature"},
			// XML attacks: refused before any signature is looked at, even
			// around a genuinely signed notice.
			{"DOCTYPE before a signed notice", xmlDecl + `<!DOCTYPE xml>` + good, 400, "malformed"},
			{"internal entity", xmlDecl + `<!DOCTYPE xml [<!ENTITY fee "1">]>` + strings.Replace(good, "<total_fee>", "<total_fee>&fee;", 1), 400, "malformed"},
			{"external entity (XXE)", xmlDecl + `<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><return_code>SUCCESS</return_code><attach>&xxe;</attach></xml>`, 400, "malformed"},
			{"billion laughs", xmlDecl + `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><return_code>SUCCESS</return_code><attach>&lol3;</attach></xml>`, 400, "malformed"},
			{"duplicate element", strings.Replace(good, "</xml>", "<total_fee>1</total_fee></xml>", 1), 400, "malformed"},
			{"nested element", strings.Replace(good, "</xml>", "<attach><a>1</a></attach></xml>", 1), 400, "malformed"},
			{"not XML", `{"return_code":"SUCCESS"}`, 400, "malformed"},
			{"return_code FAIL", `<xml><return_code>FAIL</return_code><return_msg>ERR</return_msg></xml>`, 400, "malformed"},
		}
		for _, c := range cases {
			resp, ack := wxPost(t, st.base+"/v2/notify", nil, []byte(c.body))
			if resp.StatusCode != c.status || resp.Header.Get("Payguard-Reason") != c.reason {
				t.Errorf("%s: got %d %q %q, want %d %q", c.name, resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack, c.status, c.reason)
				continue
			}
			wantV2(t, resp, ack, c.status, c.reason)
		}
		if n := st.shop.count(); n != 0 {
			t.Fatalf("shop got %d rejected notifications", n)
		}
		resp, ack := wxPost(t, st.base+"/v2/notify", nil, []byte(good))
		wantV2(t, resp, ack, 200, "forwarded")
	})
}

func TestWeChatPayV2ConcurrentCopiesOnce(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		body := st.v2Notify(t, st.order(t, wechatpay.V2Name, "3.00", false), "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		reasons := map[string]int{}
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := wxPost(t, st.base+"/v2/notify", nil, body)
				mu.Lock()
				reasons[fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Payguard-Reason"))]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if st.shop.count() != 1 || reasons["200 forwarded"] != 1 || reasons["200 duplicate"]+reasons["409 in_flight"] != 19 {
			t.Fatalf("shop got %d, answers %v", st.shop.count(), reasons)
		}
	})
}

func TestWeChatPayV2UpstreamFailureThenRetry(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		body := st.v2Notify(t, st.order(t, wechatpay.V2Name, "5.00", false), "")
		st.shop.setStatus(500)
		resp, ack := wxPost(t, st.base+"/v2/notify", nil, body)
		wantV2(t, resp, ack, 502, "upstream_failed")
		st.shop.setStatus(200)
		resp, ack = wxPost(t, st.base+"/v2/notify", nil, body)
		wantV2(t, resp, ack, 200, "forwarded")
		resp, ack = wxPost(t, st.base+"/v2/notify", nil, body)
		wantV2(t, resp, ack, 200, "duplicate")
		if n := st.shop.count(); n != 2 {
			t.Fatalf("shop saw %d requests, want 2", n)
		}
	})
}

func TestWeChatPayV2Query(t *testing.T) {
	wxStores(t, func(t *testing.T, st *wxStack) {
		// No `query on`: v2 queries by default, with the API key alone.
		o := st.order(t, wechatpay.V2Name, "66.60", true)
		resp, ack := wxPost(t, st.base+"/v2/query", nil, st.v2Notify(t, o, ""))
		wantV2(t, resp, ack, 200, "forwarded")
		wantHeaders(t, st.shop.last(), map[string]string{"Payguard-Query": "confirmed", "Payguard-Amount": "6660"})

		for _, c := range []struct {
			name string
			o    sim.Order
		}{
			{"WeChat answers another amount", st.order(t, wechatpay.V2Name, "100.00", true, func(o *sim.Order) { o.QueryAmount = "0.01" })},
			{"WeChat says the order is unpaid", st.order(t, wechatpay.V2Name, "100.00", true, func(o *sim.Order) { o.QueryStatus = "NOTPAY" })},
			{"WeChat does not know the order", st.order(t, wechatpay.V2Name, "100.00", false)},
		} {
			resp, ack := wxPost(t, st.base+"/v2/query", nil, st.v2Notify(t, c.o, ""))
			if resp.StatusCode != 403 || resp.Header.Get("Payguard-Reason") != "query_mismatch" {
				t.Errorf("%s: %d %s %q", c.name, resp.StatusCode, resp.Header.Get("Payguard-Reason"), ack)
				continue
			}
			wantV2(t, resp, ack, 403, "query_mismatch")
		}
		if n := st.shop.count(); n != 1 {
			t.Fatalf("shop got %d, want only the confirmed one", n)
		}
	})
}

// TestWeChatPayLogsHoldNoSecrets: with every log at debug level, accepted
// and refused notifications leave no key, no signature and no body in the
// log.
func TestWeChatPayLogsHoldNoSecrets(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	st := startWeChatStackLog(t, "store memory", "output file "+logFile+"\n\t\tlevel DEBUG")
	o := st.order(t, wechatpay.V3Name, "7.00", true)
	h, body := st.v3Notify(t, o, "")
	wxPost(t, st.base+"/v3/query", h, body)
	wxPost(t, st.base+"/v3/notify", h, body) // another route, same nonce: refused
	h2, body2 := st.v3Notify(t, o, "wechatpay-signature")
	wxPost(t, st.base+"/v3/notify", h2, body2)
	o2 := st.order(t, wechatpay.V2Name, "7.00", true)
	v2body := st.v2Notify(t, o2, "")
	wxPost(t, st.base+"/v2/query", nil, v2body)
	wxPost(t, st.base+"/v2/notify", nil, st.v2Notify(t, o2, "total_fee"))
	if st.shop.count() != 2 {
		t.Fatalf("shop got %d, want 2", st.shop.count())
	}
	_ = caddy.Stop() // flush and close the log
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if !strings.Contains(log, `"msg":"payment notification"`) || !strings.Contains(log, o.EventID) {
		t.Fatalf("the log does not record the notifications:\n%s", log)
	}
	// The keys appear nowhere, not even in Caddy's own debug lines.
	privDER, _ := x509.MarshalPKCS8PrivateKey(wxKeys.merchant)
	for name, secret := range map[string]string{
		"APIv3 key":            string(wxKeys.apiV3Key),
		"v2 API key":           string(wxKeys.apiKey),
		"merchant private key": base64.StdEncoding.EncodeToString(privDER)[64:128],
	} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
	// payguard's own lines hold no signature and no body. (Caddy's
	// reverse_proxy logs the forwarded headers at debug level, with the
	// Wechatpay-* headers that forward original keeps.)
	var ours []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"logger":"http.handlers.payguard"`) {
			ours = append(ours, line)
		}
	}
	fields, _ := wechatpay.ParseXML(v2body)
	var env struct {
		Resource wechatpay.V3Resource `json:"resource"`
	}
	_ = json.Unmarshal(body, &env)
	for name, v := range map[string]string{
		"v3 signature":  h.Get(wechatpay.HeaderSignature)[:40],
		"v3 ciphertext": env.Resource.Ciphertext[:40],
		"v2 sign":       fields["sign"],
		"v2 nonce_str":  fields["nonce_str"],
	} {
		if strings.Contains(strings.Join(ours, "\n"), v) {
			t.Errorf("payguard's log lines hold the %s", name)
		}
	}
	if len(ours) < 5 {
		t.Errorf("%d payguard log lines, want one per notification at least", len(ours))
	}
}
