package unionpay

import (
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

const testMerID = "777290058110048"

// The test PKIs are made once per test binary: RSA key generation is the
// slow part of these tests.
var (
	pkiOnce              sync.Once
	testPKI, strangerPKI *PKI
	pkiErr               error
)

// pkis returns the test PKI and a stranger's (same shape, other keys).
func pkis(t testing.TB) (*PKI, *PKI) {
	t.Helper()
	pkiOnce.Do(func() {
		if testPKI, pkiErr = NewPKI(testMerID, time.Now()); pkiErr == nil {
			strangerPKI, pkiErr = NewPKI(testMerID, time.Now())
		}
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return testPKI, strangerPKI
}

// newProvider builds a provider on the test PKI; mod adjusts the config.
func newProvider(t testing.TB, mod func(*Config)) *Provider {
	t.Helper()
	pki, _ := pkis(t)
	cfg := Config{
		MerID:      testMerID,
		RootCert:   []byte(CertPEM(pki.Root)),
		MiddleCert: []byte(CertPEM(pki.Middle)),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleParams is a payment notification for the test merchant at now,
// before signature.
func sampleParams(now time.Time) map[string]string {
	txnTime := now.In(beijing).Format(TimeLayout)
	return map[string]string{
		"version": Version, "encoding": "UTF-8", "signMethod": SignMethod,
		"bizType": "000201", "accessType": "0", "txnType": TxnConsume, "txnSubType": "01",
		"merId": testMerID, "orderId": "20260101120000001", "txnTime": txnTime,
		"txnAmt": "1000", "currencyCode": "156", "queryId": "482601011200001234567",
		"respCode": "00", "respMsg": "Success!", "settleAmt": "1000", "settleCurrencyCode": "156",
		"settleDate": txnTime[4:8], "traceNo": "234567", "traceTime": txnTime[4:],
	}
}

// signed signs params with key, presenting cert, and returns the form body.
func signed(t testing.TB, key *rsa.PrivateKey, cert *x509.Certificate, params map[string]string) []byte {
	t.Helper()
	p := make(map[string]string, len(params)+2)
	for k, v := range params {
		p[k] = v
	}
	if cert != nil {
		p[fieldCert] = CertPEM(cert)
	}
	sig, err := Sign(key, p)
	if err != nil {
		t.Fatal(err)
	}
	p[fieldSignature] = sig
	return EncodeForm(p)
}

// genuine is a notification signed by the test PKI's UnionPay certificate.
func genuine(t testing.TB, params map[string]string) []byte {
	pki, _ := pkis(t)
	return signed(t, pki.SignKey, pki.Sign, params)
}

func verify(p *Provider, body []byte, now time.Time) (*provider.Verified, error) {
	return p.VerifyNotify(&provider.Request{Method: "POST", Body: body, Now: now})
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code reason.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := reason.CodeOf(err, ""); got != code {
		t.Fatalf("error %v has code %q, want %s", err, got, code)
	}
}
