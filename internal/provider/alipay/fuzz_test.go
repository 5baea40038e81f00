package alipay

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

func formSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		nil, []byte("a=1"), []byte("a=1&a=2"), []byte("a=%zz"), []byte("a+b=%2B&c=%e8%af%ad"),
		[]byte("=&=&"), []byte("a=1;b=2"), []byte("a=\xb2\xe2"),
	}
	for _, c := range loadVectors(t) {
		if c.FormBody != "" {
			seeds = append(seeds, []byte(c.FormBody))
		}
	}
	return seeds
}

// FuzzVerifyNotify: whatever arrives (body, URL query, either mode), it
// never panics, every error is a *reason.Error, and what verifies is
// well-formed. Seeded with Alipay's own notifications and signed samples;
// mutations of those exercise every rejection before and at the signature.
func FuzzVerifyNotify(f *testing.F) {
	testKeys(f)
	vec := vector(f, "notify_trade_status_sync_public_key_mode")
	for _, s := range formSeeds(f) {
		f.Add(s, "", false)
	}
	f.Add([]byte(vec.FormBody), "sign=x", false)
	f.Add([]byte(vec.FormBody), "", true)
	sample := sampleParams()
	f.Add(sign(f, &Signer{Key: alipayKey}, sample), "", false)
	sample["charset"] = "GBK"
	sample["subject"] = "\xb2\xe2\xca\xd4"
	f.Add(sign(f, &Signer{Key: alipayKey}, sample), "", false)

	pVec, err := New(Config{AppID: vec.Params["app_id"], PublicKey: []byte(vec.AlipayPublicKey)})
	if err != nil {
		f.Fatal(err)
	}
	pReturn, err := New(Config{AppID: vec.Params["app_id"], PublicKey: []byte(vec.AlipayPublicKey), Mode: ModeReturn})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, rawQuery string, returnMode bool) {
		p, req := pVec, &provider.Request{Method: "POST", Body: b, RawQuery: rawQuery, Now: testNow}
		if returnMode {
			p, req = pReturn, &provider.Request{Method: "GET", RawQuery: string(b), Now: testNow}
		}
		_, _ = checkVerify(t, p, req)
	})
}

// FuzzVerifySigned signs the fuzzed form like Alipay before verifying it,
// so the code behind the signature check (merchant checks, amounts,
// charsets, status map, max_age) is fuzzed too. It signs with a 1024-bit
// test key, installed behind New's 2048-bit rule, to keep executions cheap.
func FuzzVerifySigned(f *testing.F) {
	for _, s := range formSeeds(f) {
		f.Add(s, false)
	}
	sample := sampleParams()
	f.Add(reverseEncode(sample), false)
	ret := map[string]string{"app_id": testAppID, "out_trade_no": "o", "trade_no": "t", "total_amount": "1.00", "timestamp": "2026-03-04 13:06:07"}
	f.Add(reverseEncode(ret), true)
	sample["charset"] = "GBK"
	sample["subject"] = "\xb2\xe2\xca\xd4"
	sample["trade_status"] = "TRADE_CLOSED"
	sample["refund_fee"] = "12.34"
	f.Add(reverseEncode(sample), false)

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	testKeys(f)
	pNotify := newProvider(f, nil)
	pNotify.alipayKey = &small.PublicKey
	pReturn := newProvider(f, func(c *Config) { c.Mode = ModeReturn; c.SellerID = "" })
	pReturn.alipayKey = &small.PublicKey
	signer := &Signer{Key: small}

	f.Fuzz(func(t *testing.T, b []byte, returnMode bool) {
		form, err := ParseForm(b)
		if err != nil {
			return
		}
		params := make(map[string]string, form.Len())
		for _, k := range form.Keys() {
			params[k] = form.Value(k)
		}
		body, err := signer.SignNotify(params)
		if err != nil {
			t.Fatal(err)
		}
		p, req := pNotify, &provider.Request{Method: "POST", Body: body, Now: testNow}
		if returnMode {
			p, req = pReturn, &provider.Request{Method: "GET", RawQuery: string(body), Now: testNow}
		}
		if _, err := checkVerify(t, p, req); err != nil {
			// Signed with the configured key: only the checks after the
			// signature (or the charset check) may refuse it.
			switch c := reason.CodeOf(err, ""); {
			case c == reason.Malformed || c == reason.StaleTimestamp:
			case c == reason.BadSignature && strings.Contains(err.Error(), "mismatch"):
			default:
				t.Fatalf("correctly signed input refused: %v", err)
			}
		}
	})
}

// checkVerify runs VerifyNotify and checks the invariants every outcome
// must hold.
func checkVerify(t *testing.T, p *Provider, req *provider.Request) (*provider.Verified, error) {
	v, err := p.VerifyNotify(req)
	if err != nil {
		if _, ok := err.(*reason.Error); !ok {
			t.Fatalf("error %T is not a *reason.Error: %v", err, err)
		}
		if len(err.Error()) > 300 {
			t.Fatalf("error detail of %d bytes", len(err.Error()))
		}
		return nil, err
	}
	n := v.Notification
	if n.Amount < 0 || !n.Status.Valid() || n.Provider != "alipay" || n.Merchant != p.appID || n.Currency == "" {
		t.Fatalf("verified nonsense: %+v", n)
	}
	if _, ok := n.Fields()["sign"]; ok {
		t.Fatal("sign in raw")
	}
	for k, val := range n.Fields() {
		if !utf8.ValidString(k) || !utf8.ValidString(val.(string)) {
			t.Fatalf("raw %q not UTF-8", k)
		}
	}
	return v, nil
}
