package stripe

import (
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// vectorCase is one case of testdata/stripe.json (copied from
// shared/vectors: stripe-go v85's own signer at a fixed time).
type vectorCase struct {
	Name            string `json:"name"`
	Expected        string `json:"expected"`
	Payload         string `json:"payload"`
	Secret          string `json:"secret"`
	OtherSecret     string `json:"other_secret"`
	SignedContent   string `json:"signed_content"`
	StripeSignature string `json:"stripe_signature"`
}

func loadVectors(t *testing.T) map[string]vectorCase {
	return providertest.VectorsByName[vectorCase](t, "stripe.json",
		"v1_generated_by_stripe_go", "v1_two_signatures_rolled_secret", "v1_payload_with_trailing_space", "note_secret_is_not_base64_decoded")
}

// The vectors' payload {"id":"evt_test_webhook","object":"event"} is not
// an event payguard can normalize (no type, data or created), so a valid
// signature is seen as a malformed body, and an invalid one as
// bad_signature: the signature is decided before the body is read.
func verifyVector(t *testing.T, c vectorCase, secrets ...string) error {
	t.Helper()
	_, err := newTestProvider(t, secrets...).VerifyNotify(requestWith(c.Payload, c.StripeSignature))
	return err
}

func TestVectors(t *testing.T) {
	v := loadVectors(t)

	t.Run("signer", func(t *testing.T) {
		c := v["v1_generated_by_stripe_go"]
		if got := string(appendSignedContent(1495999758, c.Payload)); got != c.SignedContent {
			t.Fatalf("signed content %q, want %q", got, c.SignedContent)
		}
		got := SignatureHeader(time.Unix(1495999758, 0), []byte(c.Payload), []byte(c.Secret))
		if got != c.StripeSignature {
			t.Fatalf("SignatureHeader = %s, want stripe-go's %s", got, c.StripeSignature)
		}
	})
	for _, name := range []string{"v1_generated_by_stripe_go", "note_secret_is_not_base64_decoded"} {
		t.Run(name, func(t *testing.T) {
			c := v[name]
			wantCode(t, verifyVector(t, c, c.Secret), reason.Malformed) // signature held
			sh, rerr := parseSignatureHeader(c.StripeSignature)
			if rerr != nil || !newTestProvider(t, c.Secret).matches(sh, []byte(c.Payload)) {
				t.Fatalf("vector does not verify: %v", rerr)
			}
			// The key is the literal string, prefix included: the key a
			// Standard Webhooks style reading would use does not match.
			stripped := computeSignature([]byte(strings.TrimPrefix(c.Secret, SecretPrefix)), 1495999758, []byte(c.Payload))
			if hmacEqual(stripped, sh.signatures[0]) {
				t.Fatal("the signature also matches without whsec_: the vector proves nothing")
			}
			wantCode(t, verifyVector(t, c, "whsec_other"), reason.BadSignature)
		})
	}
	t.Run("v1_two_signatures_rolled_secret", func(t *testing.T) {
		c := v["v1_two_signatures_rolled_secret"]
		sh, rerr := parseSignatureHeader(c.StripeSignature)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if len(sh.signatures) != 2 {
			t.Fatalf("%d v1 signatures read, want 2 (the v0 entry ignored)", len(sh.signatures))
		}
		for _, secrets := range [][]string{{c.Secret}, {c.OtherSecret}, {c.OtherSecret, c.Secret}} {
			if !newTestProvider(t, secrets...).matches(sh, []byte(c.Payload)) {
				t.Errorf("secrets %v: no match, want one", secrets)
			}
			wantCode(t, verifyVector(t, c, secrets...), reason.Malformed)
		}
		wantCode(t, verifyVector(t, c, "whsec_neither"), reason.BadSignature)
	})
	t.Run("v1_payload_with_trailing_space", func(t *testing.T) {
		c := v["v1_payload_with_trailing_space"]
		wantCode(t, verifyVector(t, c, c.Secret), reason.BadSignature)
	})
}

func hmacEqual(a, b []byte) bool { return string(a) == string(b) }

func appendSignedContent(t int64, payload string) []byte {
	return append(append([]byte(itoa(t)), '.'), payload...)
}
