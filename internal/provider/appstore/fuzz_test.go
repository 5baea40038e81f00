package appstore

import (
	"errors"
	"testing"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// FuzzParseJWS: the compact-JWS parser never panics, and what it accepts
// is ES256 with a certificate list and a signing input it can re-create.
func FuzzParseJWS(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.signer.mustSign(fx.payload("TEST", "", nil)))
	for _, c := range loadVectors(f) {
		if c.JWS != "" {
			f.Add(c.JWS)
		}
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJFUzI1NiJ9.e30.AA", "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := parseJWS(s)
		if err != nil {
			var re *reason.Error
			if !errors.As(err, &re) || (re.Code != reason.Malformed && re.Code != reason.BadSignature) {
				t.Fatalf("error %v is neither malformed nor bad_signature", err)
			}
			return
		}
		if len(j.x5c) == 0 || j.signingInput+"."+b64url.EncodeToString(j.signature) != s {
			t.Fatalf("accepted %q as %+v", s, j)
		}
	})
}

// FuzzVerifyNotify: a notification body (and URL query) of any bytes is
// either verified or refused with a reason code, never a panic.
func FuzzVerifyNotify(f *testing.F) {
	fx := newFixture(f)
	txn := fx.signer.mustSign(fx.txn(nil))
	f.Add(mustBody(fx.signer.mustSign(fx.payload("ONE_TIME_CHARGE", txn, nil))), "")
	f.Add(mustBody(fx.signer.mustSign(fx.payload("REFUND", txn, nil))), "a=1")
	f.Add(mustBody(fx.signer.mustSign(fx.payload("TEST", "", nil))), "signedPayload=1")
	for _, c := range loadVectors(f) {
		if c.JWS != "" {
			f.Add(mustBody(c.JWS), "")
		}
	}
	f.Add([]byte(`{"signedPayload":"a.b.c","signedPayload":"d"}`), "")
	f.Add([]byte(`{"signedPayload":[[[[[[[]]]]]]]}`), "%zz")
	f.Fuzz(func(t *testing.T, body []byte, rawQuery string) {
		v, err := fx.p.VerifyNotify(&provider.Request{Method: "POST", RawQuery: rawQuery, Body: body, Now: fx.now})
		if err != nil {
			var re *reason.Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v carries no reason code", err)
			}
			return
		}
		if v.Notification.EventID == "" || v.EventTime.IsZero() || !v.Notification.Status.Valid() {
			t.Fatalf("accepted an incomplete notification %+v", v)
		}
	})
}

func (a appleSigner) mustSign(payload any) string {
	s, err := a.sign(payload)
	if err != nil {
		panic(err) // test setup only
	}
	return s
}

func mustBody(signedPayload string) []byte {
	return []byte(`{"signedPayload":"` + signedPayload + `"}`)
}
