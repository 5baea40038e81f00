package unionpay

import (
	"bytes"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// FuzzParseAnswer: the query-answer parser never panics and accepts no
// duplicate key.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{"a=1&b={x&y}&c=[1&2]", "a={", "a=1&a=2", "", "=", "a=b=c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		form, err := parseAnswer(b)
		if err != nil {
			return
		}
		if len(form.Pairs()) != len(form.Keys()) {
			t.Fatalf("%d pairs, %d keys", len(form.Pairs()), len(form.Keys()))
		}
	})
}

// FuzzSigningCert: the certificate checks never panic on any
// signPubKeyCert value, and accept nothing but the genuine certificate
// (plus trailing whitespace).
func FuzzSigningCert(f *testing.F) {
	pki, _ := pkis(f)
	v, err := newChainVerifier([]byte(CertPEM(pki.Root)), []byte(CertPEM(pki.Middle)))
	if err != nil {
		f.Fatal(err)
	}
	genuinePEM := []byte(CertPEM(pki.Sign))
	f.Add(genuinePEM)
	f.Add([]byte(CertPEM(pki.Merchant)))
	f.Add([]byte(CertPEM(pki.Middle)))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := v.signingKey(string(b), now)
		if err != nil {
			if reason.CodeOf(err, "") != reason.BadSignature {
				t.Fatalf("error %v is not bad_signature", err)
			}
			return
		}
		if !pub.Equal(&pki.SignKey.PublicKey) {
			t.Fatal("accepted a certificate other than UnionPay's")
		}
	})
}

// FuzzCertOwner: the CN split never panics and finds an owner exactly
// when the CN has three '@'-separated fields.
func FuzzCertOwner(f *testing.F) {
	for _, s := range []string{"", "@", "a@b", "a@b@c", "041@Z2014-11-11@700000000000001:SIGN@00000003", "@@@@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cn string) {
		_, err := CertOwner(cn)
		if (err == nil) != (bytes.Count([]byte(cn), []byte("@")) >= 2) {
			t.Fatalf("CertOwner(%q): %v", cn, err)
		}
	})
}

// FuzzVerifyNotify mutates a genuine notification: VerifyNotify never
// panics, every error carries a reason code, and a verified result is for
// the configured merchant.
func FuzzVerifyNotify(f *testing.F) {
	p := newProvider(f, nil)
	now := time.Now()
	body := genuine(f, sampleParams(now))
	f.Add(body, "")
	f.Add(append(append([]byte{}, body...), "&txnAmt=1"...), "")
	f.Add(body, "txnAmt=1")
	f.Add([]byte("signMethod=01&version=5.1.0&encoding=UTF-8&signature=AA%3D%3D&signPubKeyCert=x"), "")
	f.Fuzz(func(t *testing.T, b []byte, rawQuery string) {
		v, err := p.VerifyNotify(&provider.Request{Body: b, RawQuery: rawQuery, Now: now})
		if err != nil {
			if reason.CodeOf(err, "") == "" {
				t.Fatalf("error %v carries no reason code", err)
			}
			return
		}
		if v.Notification.Merchant != testMerID || v.Notification.EventID == "" {
			t.Fatalf("verified %+v", v.Notification)
		}
	})
}
