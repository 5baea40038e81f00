package stripe

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// testNow is the clock of the synthetic tests (the vectors carry their own).
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testSecret    = "whsec_test_secret"
	testOldSecret = "whsec_old_secret"
	testAPIKey    = "sk_test_51Hpayguard0000000000000000"
)

func newTestProvider(t testing.TB, secrets ...string) *Provider {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	var b [][]byte
	for _, s := range secrets {
		b = append(b, []byte(s))
	}
	p, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signedRequest is body signed at testNow with secret, as Stripe posts it.
func signedRequest(body string, secret string) *provider.Request {
	return requestWith(body, SignatureHeader(testNow, []byte(body), []byte(secret)))
}

func requestWith(body, sig string) *provider.Request {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return &provider.Request{Method: http.MethodPost, Path: "/stripe", Header: h, Body: []byte(body), Now: testNow}
}

// wantCode fails unless err is a *reason.Error with code c.
func wantCode(t testing.TB, err error, c reason.Code) {
	t.Helper()
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want a *reason.Error %s", err, err, c)
	}
	if re.Code != c {
		t.Fatalf("code %s (%s), want %s", re.Code, re.Detail, c)
	}
}

// piEvent is a payment_intent event with amounts in Stripe's units.
func piEvent(typ, status string, amount, received int64, currency, metadata string) string {
	return `{"id":"evt_1PAYGUARD","object":"event","api_version":"2024-06-20","created":1767322800,` +
		`"data":{"object":{"id":"pi_3PAYGUARD","object":"payment_intent","amount":` + itoa(amount) +
		`,"amount_received":` + itoa(received) + `,"currency":"` + currency + `","livemode":false,` +
		`"metadata":` + metadata + `,"status":"` + status + `"}},"livemode":false,"pending_webhooks":1,` +
		`"request":{"id":null,"idempotency_key":null},"type":"` + typ + `"}`
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// event wraps a data.object in an event of type typ.
func event(typ, object string) string {
	return `{"id":"evt_1PAYGUARD","object":"event","api_version":"2024-06-20","created":1767322800,` +
		`"data":{"object":` + object + `},"livemode":false,"pending_webhooks":1,"type":"` + typ + `"}`
}
