package appstore

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// fixture is a local App Store-shaped PKI, a provider that pins its root,
// and helpers that sign like Apple.
type fixture struct {
	pki    *testPKI
	signer appleSigner
	p      *Provider
	now    time.Time
}

const testBundle = "com.example.shop"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	now := time.Now().Truncate(time.Millisecond)
	pki, err := newTestPKI(now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{BundleID: testBundle, Environment: EnvProduction, Roots: []*x509.Certificate{pki.root}})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{pki: pki, signer: appleSigner{key: pki.leafKey, x5c: pki.x5c()}, p: p, now: now}
}

// txn is a transaction for testBundle in Production; set overrides
// fields, a nil value deletes one.
func (f *fixture) txn(set map[string]any) map[string]any {
	m := map[string]any{
		"transactionId":         "2000000123456789",
		"originalTransactionId": "2000000100000000",
		"bundleId":              testBundle,
		"productId":             "com.example.shop.credits",
		"purchaseDate":          f.now.Add(-time.Minute).UnixMilli(),
		"type":                  "Consumable",
		"appAccountToken":       "5b3c0f8e-0d4e-4f57-9c1e-2d8b7a6f1e30",
		"signedDate":            f.now.UnixMilli(),
		"environment":           EnvProduction,
		"price":                 990,
		"currency":              "USD",
	}
	return apply(m, set)
}

// payload is a notification of type typ around a signed transaction
// ("" for none).
func (f *fixture) payload(typ, txnJWS string, set map[string]any) map[string]any {
	data := map[string]any{"appAppleId": 1234, "bundleId": testBundle, "bundleVersion": "1", "environment": EnvProduction}
	if txnJWS != "" {
		data["signedTransactionInfo"] = txnJWS
	}
	m := map[string]any{
		"notificationType": typ,
		"notificationUUID": "0f1e2d3c-4b5a-4697-8877-665544332211",
		"version":          "2.0",
		"signedDate":       f.now.UnixMilli(),
		"data":             data,
	}
	return apply(m, set)
}

func apply(m, set map[string]any) map[string]any {
	m = maps.Clone(m)
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func (f *fixture) sign(t *testing.T, payload any) string {
	t.Helper()
	s, err := f.signer.sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// notify is a genuine notification of typ with the transaction txn.
func (f *fixture) notify(t *testing.T, typ string, txn map[string]any) []byte {
	t.Helper()
	return body(t, f.sign(t, f.payload(typ, f.sign(t, txn), nil)))
}

func body(t *testing.T, signedPayload string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"signedPayload": signedPayload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) verify(b []byte) (*provider.Verified, error) {
	return f.p.VerifyNotify(&provider.Request{Method: "POST", Body: b, Now: f.now})
}

func wantCode(t *testing.T, err error, want reason.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s", want)
	}
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v is no *reason.Error", err)
	}
	if re.Code != want {
		t.Fatalf("code %s (%v); want %s", re.Code, err, want)
	}
}
