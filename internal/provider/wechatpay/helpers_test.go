package wechatpay

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// testNow is the clock of every synthetic test (the vector has its own).
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testMchID    = "1900000001"
	testAppID    = "wxd930ea5d5a258f4f"
	testV3Key    = "0123456789abcdefghijABCDEFGHIJ01" // 32 bytes
	testV2Key    = "192006250b4c09247ec02edce69f6a2d" // the v2 doc example key
	testPubKeyID = "PUB_KEY_ID_0119000000012026010200000000000001"
)

func loadVectors(t testing.TB, name string) map[string]map[string]any {
	return providertest.VectorsByName[map[string]any](t, name)
}

// Test keys are generated once per test binary: RSA-2048 generation costs
// tenths of a second each.
var platformKey, otherKey, pubModeKey, merchKey *rsa.PrivateKey

func testKeys(t testing.TB) {
	t.Helper()
	k := providertest.RSAKeys(t, 4)
	platformKey, otherKey, pubModeKey, merchKey = k[0], k[1], k[2], k[3]
}

// makeCert returns a PEM self-signed certificate for key with serial.
func makeCert(t testing.TB, key *rsa.PrivateKey, serial *big.Int, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// testSerial has a leading zero nibble, so its header form may carry "0".
var testSerial = func() *big.Int {
	s, _ := new(big.Int).SetString("05E5A8D6C3B2A19F", 16)
	return s
}()

const testSerialHex = "5E5A8D6C3B2A19F" // strings.ToUpper(Text(16))

// v3Fixture is a provider in both key modes with signers for each.
type v3Fixture struct {
	p         *V3
	certPEM   []byte
	signer    *V3Signer // platform-certificate mode
	pubSigner *V3Signer // public-key mode
}

func newV3Fixture(t testing.TB, mutate ...func(*V3Config)) *v3Fixture {
	t.Helper()
	testKeys(t)
	certPEM := makeCert(t, platformKey, testSerial, testNow.Add(-24*time.Hour), testNow.Add(365*24*time.Hour))
	cfg := V3Config{
		MchID:          testMchID,
		AppID:          testAppID,
		APIv3Key:       []byte(testV3Key),
		PlatformCerts:  [][]byte{certPEM},
		PublicKeyID:    testPubKeyID,
		PublicKey:      providertest.PublicPEM(t, &pubModeKey.PublicKey),
		MerchantSerial: "3775B6A45ACD588826D15E583A95F5DD********",
		PrivateKey:     providertest.PrivatePEM(t, merchKey),
		Now:            func() time.Time { return testNow },
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := NewV3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &v3Fixture{
		p:         p,
		certPEM:   certPEM,
		signer:    &V3Signer{PlatformKey: platformKey, Serial: testSerialHex, APIv3Key: []byte(testV3Key)},
		pubSigner: &V3Signer{PlatformKey: pubModeKey, Serial: testPubKeyID, APIv3Key: []byte(testV3Key)},
	}
}

func sampleTransaction() map[string]any {
	return map[string]any{
		"mchid":            testMchID,
		"appid":            testAppID,
		"out_trade_no":     "ORDER-20260102-0001",
		"transaction_id":   "4200001234202601021234567890",
		"trade_type":       "JSAPI",
		"trade_state":      "SUCCESS",
		"trade_state_desc": "支付成功",
		"bank_type":        "CMC",
		"attach":           "",
		"success_time":     "2026-01-02T11:03:59+08:00",
		"payer":            map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		"amount":           map[string]any{"total": 1234, "payer_total": 1200, "currency": "CNY", "payer_currency": "CNY"},
	}
}

func sampleRefund() map[string]any {
	return map[string]any{
		"mchid":                 testMchID,
		"out_trade_no":          "ORDER-20260102-0001",
		"transaction_id":        "4200001234202601021234567890",
		"out_refund_no":         "R-0001",
		"refund_id":             "50000000382019052709732678859",
		"refund_status":         "SUCCESS",
		"success_time":          "2026-01-02T12:00:00+08:00",
		"user_received_account": "招商银行信用卡0403",
		"amount":                map[string]any{"total": 1234, "refund": 234, "payer_total": 1234, "payer_refund": 234},
	}
}

func (f *v3Fixture) request(t testing.TB, s *V3Signer, eventType string, res any) *provider.Request {
	t.Helper()
	h, body, err := s.SignNotify(eventType, res, "EV-"+randomNonce(8), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return &provider.Request{Method: http.MethodPost, Path: "/notify/wechat", Header: h, Body: body, Now: testNow}
}

// signedRequest signs an arbitrary body (for hand-built envelopes).
func signedRequest(t testing.TB, s *V3Signer, body []byte) *provider.Request {
	t.Helper()
	h, err := s.SignResponse(body, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return &provider.Request{Method: http.MethodPost, Header: h, Body: body, Now: testNow}
}

// wantReason asserts err is a *reason.Error with code, whose message holds
// none of the secrets and no long slice of body.
func wantReason(t testing.TB, err error, code reason.Code, body []byte, detail string) {
	t.Helper()
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
	}
	if re.Code != code {
		t.Fatalf("code = %s, want %s (%v)", re.Code, code, err)
	}
	if detail != "" && !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q does not mention %q", err, detail)
	}
	assertNoSecrets(t, err.Error(), body)
}

func assertNoSecrets(t testing.TB, msg string, body []byte) {
	t.Helper()
	for _, secret := range []string{testV3Key, testV2Key, "testMchAPIv3Key0", hexMD5(testV2Key)} {
		if strings.Contains(msg, secret) {
			t.Fatalf("error message contains a key: %q", msg)
		}
	}
	if len(body) > 80 && strings.Contains(msg, string(body[:80])) {
		t.Fatalf("error message contains the body: %q", msg)
	}
}

func hexMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
