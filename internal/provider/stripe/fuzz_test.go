package stripe

import (
	"errors"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

func FuzzParseSignatureHeader(f *testing.F) {
	for _, c := range []string{
		"t=1495999758,v1=bd9584a798a9bd54c579fb7780e70d915eb8f35bcacc651f9a06a3cce74be871",
		"t=1,v1=00,v0=11", "v1=ab,t=2", "t=,v1=", "t=1,,", "=", "t=01", "t=1, v1=x", strings.Repeat("v1=aa,", 40),
	} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, h string) {
		sh, err := parseSignatureHeader(h)
		if err != nil {
			if err.Code != reason.Malformed && err.Code != reason.BadSignature {
				t.Fatalf("code %s", err.Code)
			}
			return
		}
		if sh.timestamp < 0 || len(sh.signatures) == 0 || len(sh.signatures) > maxSignatures {
			t.Fatalf("accepted %q as %+v", h, sh)
		}
		for _, s := range sh.signatures {
			if len(s) != 32 {
				t.Fatalf("signature of %d bytes", len(s))
			}
		}
	})
}

// FuzzVerifyNotify feeds arbitrary headers and bodies; with sign set the
// body is signed with the provider's secret, so the event parser and
// normalization are reached with any bytes.
func FuzzVerifyNotify(f *testing.F) {
	for _, b := range []string{
		paidBody,
		event("charge.refunded", `{"id":"ch_1","object":"charge","amount":10,"amount_refunded":5,"captured":true,"currency":"isk","payment_intent":"pi_1","status":"succeeded","refunds":{"data":[{"id":"re_1","created":3}]}}`),
		event("checkout.session.completed", `{"id":"cs_1","object":"checkout.session","amount_total":7,"currency":"ugx","client_reference_id":"R","payment_status":"paid"}`),
		event("refund.updated", `{"id":"re_1","object":"refund","amount":1,"currency":"jpy","status":"succeeded"}`),
		`{"id":"evt_test_webhook","object":"event"}`, `{"a":{"a":{"a":[1,2,{"b":null}]}}}`, `{}`, ``,
	} {
		f.Add("", []byte(b), true, "")
		f.Add("t=1,v1="+strings.Repeat("a", 64), []byte(b), false, "type=x")
	}
	p := newTestProvider(f)
	f.Fuzz(func(t *testing.T, header string, body []byte, sign bool, rawQuery string) {
		if sign {
			header = SignatureHeader(testNow, body, []byte(testSecret))
		}
		req := requestWith(string(body), header)
		req.RawQuery = rawQuery
		v, err := p.VerifyNotify(req)
		if err != nil {
			var re *reason.Error
			if !errors.As(err, &re) || (re.Code != reason.Malformed && re.Code != reason.BadSignature) {
				t.Fatalf("error %v", err)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error quotes the secret")
			}
			return
		}
		if !strings.Contains(header, "v1=") {
			t.Fatalf("verified without a v1 signature: %q", header)
		}
		n := v.Notification
		if !n.Status.Valid() || n.Amount < 0 || n.RefundAmount < 0 || !validID(n.EventID, "evt_") || n.Provider != Name {
			t.Fatalf("verified into %+v", n)
		}
	})
}
