package alipay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// vectorCase is one case of testdata/alipay.json (shared/vectors/alipay.json,
// copied so the package tests stand alone).
type vectorCase struct {
	Name            string                   `json:"name"`
	Expected        string                   `json:"expected"`
	Mode            string                   `json:"mode"`
	AlipayPublicKey string                   `json:"alipay_public_key"`
	FormBody        string                   `json:"form_body"`
	Params          map[string]string        `json:"params"`
	SignedContent   string                   `json:"signed_content"`
	Rule            string                   `json:"rule"`
	Normalized      *providertest.Normalized `json:"normalized"`
	ResponseBody    string                   `json:"response_body"`
	ResponseKey     string                   `json:"response_key"`
	QueryFields     *struct {
		AmountMinor int64  `json:"amount_minor"`
		OutTradeNo  string `json:"out_trade_no"`
		TotalAmount string `json:"total_amount"`
		TradeNo     string `json:"trade_no"`
	} `json:"query_fields"`
	CertPEM    string   `json:"cert_pem"`
	ExpectedSN string   `json:"expected_sn"`
	MD5Inputs  []string `json:"md5_inputs"`
	RootBundle bool     `json:"root_bundle"`
}

func loadVectors(t testing.TB) []vectorCase {
	return providertest.Vectors[vectorCase](t, "alipay.json")
}

func vector(t testing.TB, name string) vectorCase {
	t.Helper()
	for _, c := range loadVectors(t) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no vector %q", name)
	return vectorCase{}
}

// Test keys, generated once per test binary.
var alipayKey, otherKey, appKey, rKey *rsa.PrivateKey

func testKeys(t testing.TB) {
	t.Helper()
	k := providertest.RSAKeys(t, 4)
	alipayKey, otherKey, appKey, rKey = k[0], k[1], k[2], k[3]
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// testPKI is a small Alipay-like hierarchy: root → intermediate → Alipay
// certificate, and root → app certificate. Valid 2024..2030.
type testPKI struct {
	root, inter, alipayCert, appCert *x509.Certificate
	rootKey, interKey                *rsa.PrivateKey
}

var (
	clockInPKI = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	pkiOnce    sync.Once
	pki        testPKI
)

func issue(t testing.TB, tmpl, parent *x509.Certificate, pub *rsa.PublicKey, signer *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caTemplate(serial int64, cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"CN"}, Organization: []string{"Test Financial"}, OrganizationalUnit: []string{"Certification Authority"}, CommonName: cn},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

func leafTemplate(serial *big.Int, cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Country: []string{"CN"}, OrganizationalUnit: []string{"Alipay"}, CommonName: cn},
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
	}
}

func getPKI(t testing.TB) testPKI {
	t.Helper()
	testKeys(t)
	pkiOnce.Do(func() {
		rootT := caTemplate(1, "Test Financial Root R1")
		pki.rootKey = rKey
		pki.root = issue(t, rootT, rootT, &rKey.PublicKey, rKey)
		pki.interKey = otherKey
		pki.inter = issue(t, caTemplate(2, "Test Financial Class 2 R1"), pki.root, &otherKey.PublicKey, rKey)
		serial, _ := new(big.Int).SetString("42701552432456004857627230056898180491", 10)
		pki.alipayCert = issue(t, leafTemplate(serial, "支付宝(中国)网络技术有限公司-2088000000000001"), pki.inter, &alipayKey.PublicKey, otherKey)
		pki.appCert = issue(t, leafTemplate(big.NewInt(77), "app 2021000000000001"), pki.root, &appKey.PublicKey, rKey)
	})
	return pki
}

// code asserts err is a *reason.Error with code want.
func code(t testing.TB, err error, want reason.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", want)
	}
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
	}
	if _, direct := err.(*reason.Error); !direct {
		t.Fatalf("error %v is a wrapped *reason.Error, want it directly", err)
	}
	if re.Code != want {
		t.Fatalf("code %s (%v), want %s", re.Code, err, want)
	}
}

func requestFor(body []byte) *provider.Request {
	return &provider.Request{Method: "POST", Path: "/alipay/notify", Body: body}
}
