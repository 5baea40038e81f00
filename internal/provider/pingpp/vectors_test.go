package pingpp

import (
	"net/http"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// vectorCase is one case of testdata/pingpp.json (copied from
// shared/vectors: a real Ping++ webhook from pingpp-go's verify demo, and
// the same body with the amount changed).
type vectorCase struct {
	Name         string            `json:"name"`
	Body         string            `json:"body"`
	Headers      map[string]string `json:"headers"`
	Expected     string            `json:"expected"`
	PublicKeyPEM string            `json:"public_key_pem"`
	Normalized   *struct {
		providertest.Normalized
		ChannelTransactionNo string `json:"channel_transaction_no"`
	} `json:"normalized"`
}

func loadVectors(t *testing.T) []vectorCase {
	cases := providertest.Vectors[vectorCase](t, "pingpp.json")
	if len(cases) != 2 {
		t.Fatalf("%d cases, want the genuine webhook and its tampered twin", len(cases))
	}
	return cases
}

func vectorProvider(t *testing.T, pemKey string) *Provider {
	t.Helper()
	pub, err := keys.ParseRSAPublicKey([]byte(pemKey))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func vectorRequest(c vectorCase) *provider.Request {
	h := http.Header{}
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	return &provider.Request{Method: http.MethodPost, Path: "/pingpp", Header: h, Body: []byte(c.Body), Now: time.Now()}
}

func TestVectors(t *testing.T) {
	for _, c := range loadVectors(t) {
		t.Run(c.Name, func(t *testing.T) {
			v, err := vectorProvider(t, c.PublicKeyPEM).VerifyNotify(vectorRequest(c))
			if c.Expected == "invalid" {
				if reason.CodeOf(err, "") != reason.BadSignature {
					t.Fatalf("tampered webhook: err = %v, want bad_signature", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n, want := v.Notification, c.Normalized
			want.Check(t, &n)
			obj := n.Fields()["data"].(map[string]any)["object"].(map[string]any)
			if obj["transaction_no"] != want.ChannelTransactionNo {
				t.Errorf("raw transaction_no %v", obj["transaction_no"])
			}
			if n.Provider != Name || n.Type != TypeChargeSucceeded || n.Merchant != "app_vcPcqDeS88ixrPlu" {
				t.Errorf("provider %q type %q merchant %q", n.Provider, n.Type, n.Merchant)
			}
			// Ping++ signs no send time: the signed created time is the
			// event time the pipeline holds to max_age.
			if !v.Timestamp.IsZero() || v.Nonce != "" || !v.EventTime.Equal(time.Unix(1434368075, 0)) {
				t.Errorf("timestamp %v nonce %q event time %v", v.Timestamp, v.Nonce, v.EventTime)
			}
			if !n.OccurredAt.Equal(time.Unix(1434368074, 0)) {
				t.Errorf("occurred at %v, want time_paid", n.OccurredAt)
			}
		})
	}
}

// The real webhook, with the configured app_id: another app of the same
// account (same public key) is refused.
func TestVectorAppID(t *testing.T) {
	c := loadVectors(t)[0]
	p := vectorProvider(t, c.PublicKeyPEM)
	p.appID = "app_vcPcqDeS88ixrPlu"
	if _, err := p.VerifyNotify(vectorRequest(c)); err != nil {
		t.Fatalf("own app refused: %v", err)
	}
	p.appID = "app_another00000000000"
	if _, err := p.VerifyNotify(vectorRequest(c)); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatalf("another app: err = %v, want bad_signature", err)
	}
}
