package sdk

// Run (see README.md):
//
//	cd bench/sdk && go test -run . -bench . -benchmem -count 5 -cpu 1
//
// Every verifier gets the same bytes: one RSA-2048 key pair generated once,
// one realistic TRADE_SUCCESS notification signed by payguard's own
// alipay.Signer (the simulator's signer, which signs as Alipay does), form
// encoded as Alipay POSTs it. The Test functions first prove that each SDK
// accepts that body and rejects a tampered copy on its signature check, so
// the benchmarks time working verifiers, not an early error path.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-pay/crypto/xpem"
	"github.com/go-pay/crypto/xrsa"
	"github.com/go-pay/gopay"
	gopayalipay "github.com/go-pay/gopay/alipay"
	swalipay "github.com/smartwalle/alipay/v3"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/reason"
)

const appID = "2021000000000001"

type fixture struct {
	alipayKey *rsa.PrivateKey // signs as Alipay
	pubB64    string          // Alipay public key as the console shows it: base64 SPKI DER
	pubPEM    []byte
	appKeyB64 string // app private key (PKCS#8 base64), only for smartwalle's constructor

	params   map[string]string // the notification's fields, before sign_type and sign
	body     []byte            // the signed form body, as Alipay POSTs it
	tampered []byte            // body with total_amount changed, signature kept
	content  []byte            // the exact string Alipay signs (rule V1)
	sig      []byte            // the decoded signature
}

var (
	fxOnce sync.Once
	fx     *fixture
	fxErr  error
)

func getFixture(tb testing.TB) *fixture {
	tb.Helper()
	fxOnce.Do(func() { fx, fxErr = newFixture() })
	if fxErr != nil {
		tb.Fatal(fxErr)
	}
	return fx
}

func newFixture() (*fixture, error) {
	f := &fixture{}
	var err error
	if f.alipayKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&f.alipayKey.PublicKey)
	if err != nil {
		return nil, err
	}
	f.pubB64 = base64.StdEncoding.EncodeToString(der)
	f.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	appDER, err := x509.MarshalPKCS8PrivateKey(appKey)
	if err != nil {
		return nil, err
	}
	f.appKeyB64 = base64.StdEncoding.EncodeToString(appDER)

	now := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
	f.params = alipay.SampleNotifyParams(appID, "ORDER-20260501-000042", "88.88", now)
	signer := &alipay.Signer{Key: f.alipayKey}
	if f.body, err = signer.SignNotify(f.params); err != nil {
		return nil, err
	}

	vals, err := url.ParseQuery(string(f.body))
	if err != nil {
		return nil, err
	}
	if f.sig, err = base64.StdEncoding.DecodeString(vals.Get("sign")); err != nil {
		return nil, err
	}
	vals.Set("total_amount", "0.01")
	f.tampered = []byte(vals.Encode())

	f.content = signContent(f.params)
	return f, nil
}

// signContent is Alipay's rule V1 string: sorted k=v pairs joined by '&',
// sign and sign_type left out.
func signContent(params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sign" && k != "sign_type" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	return []byte(b.String())
}

func newPayguard(tb testing.TB, f *fixture) *alipay.Provider {
	tb.Helper()
	p, err := alipay.New(alipay.Config{AppID: appID, PublicKey: f.pubPEM})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// newSmartwalle is a production client in public-key mode. production=true
// as a shop would run it; nothing here reaches the network, since the
// notification carries no alipay_cert_sn.
func newSmartwalle(tb testing.TB, f *fixture) *swalipay.Client {
	tb.Helper()
	c, err := swalipay.New(appID, f.appKeyB64, true)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.LoadAliPayPublicKey(f.pubB64); err != nil {
		tb.Fatal(err)
	}
	return c
}

// notifyRequest is the request a shop's handler receives.
func notifyRequest(body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, "https://shop.example/alipay/notify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	return req
}

// --- the three verification paths, exactly as benchmarked ---

func verifyPayguard(p *alipay.Provider, body []byte) (*provider.Verified, error) {
	return p.VerifyNotify(&provider.Request{
		Method: http.MethodPost,
		Path:   "/alipay/notify",
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded;charset=utf-8"}},
		Body:   body,
	})
}

// verifyGopay is gopay's documented notification path: ParseNotifyToBodyMap
// on the *http.Request, then the package-level VerifySign with the Alipay
// public key string.
func verifyGopay(pubB64 string, body []byte) (gopay.BodyMap, error) {
	bm, err := gopayalipay.ParseNotifyToBodyMap(notifyRequest(body))
	if err != nil {
		return nil, err
	}
	ok, err := gopayalipay.VerifySign(pubB64, bm)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("gopay: VerifySign returned false without an error")
	}
	return bm, nil
}

// verifyGopayValues is the same with gopay's url.Values entry point
// (ParseNotifyByURLValues); gopay has no []byte entry point.
func verifyGopayValues(pubB64 string, body []byte) (gopay.BodyMap, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	bm, err := gopayalipay.ParseNotifyByURLValues(vals)
	if err != nil {
		return nil, err
	}
	ok, err := gopayalipay.VerifySign(pubB64, bm)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("gopay: VerifySign returned false without an error")
	}
	return bm, nil
}

// verifySmartwalle parses the form as a shop's handler would and calls
// DecodeNotification, which verifies and then fills a Notification.
func verifySmartwalle(c *swalipay.Client, body []byte) (*swalipay.Notification, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	return c.DecodeNotification(context.Background(), vals)
}

func verifyPrimitive(pub *rsa.PublicKey, content, sig []byte) error {
	d := sha256.Sum256(content)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
}

// --- correctness first ---

func TestAcceptGenuine(t *testing.T) {
	f := getFixture(t)

	v, err := verifyPayguard(newPayguard(t, f), f.body)
	if err != nil {
		t.Fatalf("payguard: %v", err)
	}
	if n := v.Notification; n.Amount != 8888 || n.OutTradeNo != "ORDER-20260501-000042" || n.Status != notification.StatusPaid {
		t.Fatalf("payguard: unexpected notification %+v", n)
	}

	for name, fn := range map[string]func(string, []byte) (gopay.BodyMap, error){
		"gopay ParseNotifyToBodyMap":   verifyGopay,
		"gopay ParseNotifyByURLValues": verifyGopayValues,
	} {
		bm, err := fn(f.pubB64, f.body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bm.GetString("total_amount") != "88.88" || bm.GetString("out_trade_no") != "ORDER-20260501-000042" {
			t.Fatalf("%s: unexpected fields %v", name, bm)
		}
	}

	n, err := verifySmartwalle(newSmartwalle(t, f), f.body)
	if err != nil {
		t.Fatalf("smartwalle: %v", err)
	}
	if n.TotalAmount != "88.88" || n.OutTradeNo != "ORDER-20260501-000042" || n.TradeStatus != swalipay.TradeStatusSuccess {
		t.Fatalf("smartwalle: unexpected notification %+v", n)
	}

	// The floor verifies the very string the SDKs rebuild.
	if err := verifyPrimitive(&f.alipayKey.PublicKey, f.content, f.sig); err != nil {
		t.Fatalf("primitive: %v", err)
	}
}

// TestRejectTampered: the same body with total_amount changed and the
// signature kept. Each verifier must fail on the RSA check itself, not
// earlier, so the error kinds are checked.
func TestRejectTampered(t *testing.T) {
	f := getFixture(t)
	if !bytes.Contains(f.tampered, []byte("total_amount=0.01")) {
		t.Fatal("tampered body lacks the changed amount")
	}

	_, err := verifyPayguard(newPayguard(t, f), f.tampered)
	var re *reason.Error
	if !errors.As(err, &re) || re.Code != reason.BadSignature || re.Detail != "signature does not verify" {
		t.Fatalf("payguard: got %v, want bad_signature: signature does not verify", err)
	}

	for name, fn := range map[string]func(string, []byte) (gopay.BodyMap, error){
		"gopay ParseNotifyToBodyMap":   verifyGopay,
		"gopay ParseNotifyByURLValues": verifyGopayValues,
	} {
		if _, err := fn(f.pubB64, f.tampered); !errors.Is(err, gopay.VerifySignatureErr) {
			t.Fatalf("%s: got %v, want gopay.VerifySignatureErr", name, err)
		}
	}

	if _, err := verifySmartwalle(newSmartwalle(t, f), f.tampered); !errors.Is(err, rsa.ErrVerification) {
		t.Fatalf("smartwalle: got %v, want rsa.ErrVerification", err)
	}

	tp := make(map[string]string, len(f.params))
	for k, v := range f.params {
		tp[k] = v
	}
	tp["total_amount"] = "0.01"
	if err := verifyPrimitive(&f.alipayKey.PublicKey, signContent(tp), f.sig); !errors.Is(err, rsa.ErrVerification) {
		t.Fatalf("primitive: got %v, want rsa.ErrVerification", err)
	}
}

// TestSignTypeFromMessage records what each verifier does with a
// notification signed SHA1withRSA and labelled sign_type=RSA while the shop
// uses RSA2. gopay has no configured algorithm: it takes the hash from the
// message's sign_type and accepts. smartwalle fixes SHA-256 and ignores
// sign_type. payguard compares sign_type with its configuration.
func TestSignTypeFromMessage(t *testing.T) {
	f := getFixture(t)
	body, err := (&alipay.Signer{Key: f.alipayKey, SignType: alipay.SignTypeRSA}).SignNotify(f.params)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("sign_type=RSA&")) && !bytes.HasSuffix(body, []byte("sign_type=RSA")) {
		t.Fatalf("body not labelled sign_type=RSA: %s", body)
	}

	if _, err := verifyGopay(f.pubB64, body); err != nil {
		t.Fatalf("gopay v1.5.123 was expected to accept a SHA-1 notification (algorithm from the message); got %v", err)
	}
	t.Log("gopay: accepts sign_type=RSA (SHA-1) with no way to configure RSA2 only")

	if _, err := verifySmartwalle(newSmartwalle(t, f), body); !errors.Is(err, rsa.ErrVerification) {
		t.Fatalf("smartwalle: got %v, want rsa.ErrVerification (SHA-256 fixed)", err)
	}
	t.Log("smartwalle: rejects it (hash fixed at SHA-256; sign_type never read)")

	_, err = verifyPayguard(newPayguard(t, f), body)
	var re *reason.Error
	if !errors.As(err, &re) || re.Code != reason.BadSignature {
		t.Fatalf("payguard: got %v, want bad_signature", err)
	}
	t.Logf("payguard: rejects it before any RSA work (%v)", err)
}

// TestSmartwalleCertSNFetches records that, in a production client in
// public-key mode, an unauthenticated notification naming an unknown
// alipay_cert_sn makes DecodeNotification call the Alipay gateway
// (alipay.open.app.alipaycert.download) before any signature check. The
// gateway is pointed at a loopback test server here. In the SDK that call
// runs while the client's mutex is held, with http.DefaultClient (no
// timeout) unless WithHTTPClient is given.
func TestSmartwalleCertSNFetches(t *testing.T) {
	f := getFixture(t)
	var hits atomic.Int32
	var method atomic.Value
	method.Store("")
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_ = r.ParseForm()
		method.Store(r.Form.Get("method"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"alipay_open_app_alipaycert_download_response":{"code":"40004","msg":"Business Failed","sub_code":"isv.cert-not-exist"}}`))
	}))
	defer gw.Close()

	c, err := swalipay.New(appID, f.appKeyB64, true, swalipay.WithProductionGateway(gw.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoadAliPayPublicKey(f.pubB64); err != nil {
		t.Fatal(err)
	}
	vals, _ := url.ParseQuery(string(f.tampered))
	vals.Set("alipay_cert_sn", "00000000000000000000000000000000")
	_, err = c.DecodeNotification(context.Background(), vals)
	if err == nil {
		t.Fatal("smartwalle accepted a tampered notification")
	}
	if m := method.Load().(string); hits.Load() != 1 || m != "alipay.open.app.alipaycert.download" {
		t.Fatalf("gateway hits %d (method %q), want 1 alipay.open.app.alipaycert.download", hits.Load(), m)
	}
	t.Logf("smartwalle: a forged notification with alipay_cert_sn made the client call %s on the gateway (error returned: %v)", method.Load(), err)

	// payguard in public-key mode never reaches the network from
	// VerifyNotify: the same body is refused on its signature.
	_, err = verifyPayguard(newPayguard(t, f), []byte(vals.Encode()))
	var re *reason.Error
	if !errors.As(err, &re) || re.Code != reason.BadSignature {
		t.Fatalf("payguard: got %v, want bad_signature", err)
	}
}

// --- benchmarks ---

// BenchmarkPayguard: alipay.New once; per op the whole VerifyNotify (strict
// parse, checks, one RSA-SHA256 verification, UTF-8 check, normalization).
func BenchmarkPayguard(b *testing.B) {
	f := getFixture(b)
	p := newPayguard(b, f)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verifyPayguard(p, f.body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGopay: per op, what a shop's handler runs. ParseNotifyToBodyMap
// needs an *http.Request, so one is built per op from the bytes
// (http.NewRequest over a bytes.Reader; in a server that request already
// exists). ParseNotifyByURLValues is gopay's other entry point, fed by
// url.ParseQuery. VerifySign takes the public key as a string and parses it
// on every call.
func BenchmarkGopay(b *testing.B) {
	f := getFixture(b)
	b.Run("ParseNotifyToBodyMap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := verifyGopay(f.pubB64, f.body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseNotifyByURLValues", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := verifyGopayValues(f.pubB64, f.body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGopayKeyParse is the part of gopay's VerifySign that handles the
// key, alone: xrsa.FormatAlipayPublicKey then xpem.DecodePublicKey, exactly
// as VerifySign does on every call.
func BenchmarkGopayKeyParse(b *testing.B) {
	f := getFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := xpem.DecodePublicKey([]byte(xrsa.FormatAlipayPublicKey(f.pubB64))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmartwalle: client built and key loaded once; per op
// url.ParseQuery of the body and DecodeNotification (VerifySign, then the
// Notification struct).
func BenchmarkSmartwalle(b *testing.B) {
	f := getFixture(b)
	c := newSmartwalle(b, f)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verifySmartwalle(c, f.body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSAVerifyPrimitive is the floor: SHA-256 of the signed string
// plus rsa.VerifyPKCS1v15, key parsed and signature decoded beforehand.
func BenchmarkRSAVerifyPrimitive(b *testing.B) {
	f := getFixture(b)
	pub := &f.alipayKey.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		if err := verifyPrimitive(pub, f.content, f.sig); err != nil {
			b.Fatal(err)
		}
	}
}
