package stdwebhook

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"testing"
)

// FuzzParseVerify feeds arbitrary header values and bodies through Parse
// and Verify: no panic, every error one of the sentinels, and nothing
// verifies unless it was really signed.
func FuzzParseVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	keys := Keys{Secrets: [][]byte{secret}, PublicKeys: []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}}
	body := []byte(`{"test": 2432232314}`)
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body)
	f.Add("m", "1", Sign([][]byte{secret}, "m", 1, body)+" "+SignV1a([]ed25519.PrivateKey{priv}, "m", 1, body), body)
	f.Add("m.1", "+1", "v1a,,, v1 ,x", []byte(nil))
	f.Fuzz(func(t *testing.T, id, ts, sig string, b []byte) {
		m, err := Parse(id, ts, sig)
		if err != nil {
			if !errors.Is(err, ErrMissingHeader) && !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("parse error outside the sentinels: %v", err)
			}
			return
		}
		err = keys.Verify(m, b)
		switch {
		case err == nil:
			// Only a genuine signature over exactly these parts verifies.
			if !containsGenuine(m, secret, priv, b) {
				t.Fatalf("verified without a genuine entry: %q %q %q", id, ts, sig)
			}
		case !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrBadSignature):
			t.Fatalf("verify error outside the sentinels: %v", err)
		}
	})
}

// containsGenuine reports whether one of m's entries decodes to what the
// real signers produce over m's raw id and timestamp texts and body.
func containsGenuine(m *Message, secret []byte, priv ed25519.PrivateKey, body []byte) bool {
	genuine := map[string][]byte{
		VersionV1:  mac(secret, m.ID, m.Timestamp, body),
		VersionV1a: ed25519.Sign(priv, signedContent(m.ID, m.Timestamp, body)),
	}
	for _, e := range m.Entries {
		got, err := base64.StdEncoding.DecodeString(e.Value)
		if want, ok := genuine[e.Version]; ok && err == nil && bytes.Equal(got, want) {
			return true
		}
	}
	return false
}

// FuzzParseSignature: the list parser alone, whose entries must
// round-trip into the same list.
func FuzzParseSignature(f *testing.F) {
	f.Add("v1,abc v1a,def")
	f.Add(" , ,, v1")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseSignature(s)
		if err != nil {
			return
		}
		if len(entries) == 0 || len(entries) > MaxSignatureItems {
			t.Fatalf("%d entries accepted", len(entries))
		}
		for _, e := range entries {
			if e.Version == "" || e.Value == "" {
				t.Fatalf("empty part in %q", s)
			}
		}
	})
}
