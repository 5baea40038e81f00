package stdwebhooks

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/stdwebhook"
)

// vectorCase mirrors shared/vectors/stdwebhooks.json, copied into testdata
// so the package tests stand alone.
type vectorCase struct {
	Name             string `json:"name"`
	Expected         string `json:"expected"`
	Payload          string `json:"payload"`
	Secret           string `json:"secret"`
	PublicKey        string `json:"public_key"`
	WebhookID        string `json:"webhook_id"`
	WebhookTimestamp string `json:"webhook_timestamp"`
	WebhookSignature string `json:"webhook_signature"`
}

func loadVectors(t testing.TB) []vectorCase {
	return providertest.Vectors[vectorCase](t, "stdwebhooks.json")
}

// vectorMappings fit the vectors' payload, {"test": 2432232314}.
var vectorMappings = map[string]string{
	FieldOutTradeNo: `string(body.test)`,
	FieldAmount:     `body.test`,
	FieldCurrency:   `"USD"`,
	FieldStatus:     `"paid"`,
}

// Secrets and keys of the tests' own senders.
var (
	testSecret  = []byte("test-secret-0123456789abcdef")
	otherSecret = []byte("other-secret-0123456789abcdef")
	testPriv    = ed25519.NewKeyFromSeed([]byte("stdwebhooks test seed, 32 bytes!"))
	testPub     = testPriv.Public().(ed25519.PublicKey)
)

func newProvider(t testing.TB, c Config) *Provider {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// paidBody is a body in the default mappings' shape.
const paidBody = `{"type":"payment.succeeded","timestamp":"2026-01-02T03:04:05Z","data":{"out_trade_no":"o-1","transaction_id":"t-1","amount":1234,"currency":"USD","status":"paid"}}`

// request builds a notification with the three headers; sig is the whole
// webhook-signature value.
func request(id string, ts int64, sig string, body string, now time.Time) *provider.Request {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(stdwebhook.HeaderID, id)
	h.Set(stdwebhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(stdwebhook.HeaderSignature, sig)
	return &provider.Request{Method: http.MethodPost, Path: "/hook", Header: h, Body: []byte(body), Now: now}
}

// signedV1 and signedV1a are requests a genuine sender signs at ts.
func signedV1(secrets [][]byte, id string, ts time.Time, body string) *provider.Request {
	return request(id, ts.Unix(), stdwebhook.Sign(secrets, id, ts.Unix(), []byte(body)), body, ts)
}

func signedV1a(keys []ed25519.PrivateKey, id string, ts time.Time, body string) *provider.Request {
	return request(id, ts.Unix(), stdwebhook.SignV1a(keys, id, ts.Unix(), []byte(body)), body, ts)
}

// wantCode fails unless err is a *reason.Error with code.
func wantCode(t *testing.T, name string, err error, code reason.Code) {
	t.Helper()
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Errorf("%s: want %s, got %v", name, code, err)
		return
	}
	if re.Code != code {
		t.Errorf("%s: want %s, got %v", name, code, err)
	}
}

// buildFrom resolves values and builds the provider like the glue does.
func buildFrom(t testing.TB, v provider.Values) (provider.Built, error) {
	t.Helper()
	spec := Spec()
	env, err := spec.Resolve(v, nil, provider.Settings{Tolerance: stdwebhook.DefaultTolerance})
	if err != nil {
		return provider.Built{}, err
	}
	return spec.Build(env)
}
