package stdwebhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

type vectorCase struct {
	Name             string `json:"name"`
	Expected         string `json:"expected"`
	Scheme           string `json:"scheme"`
	Payload          string `json:"payload"`
	Secret           string `json:"secret"`
	PublicKey        string `json:"public_key"`
	SecretKey        string `json:"secret_key"`
	SignedContent    string `json:"signed_content"`
	WebhookID        string `json:"webhook_id"`
	WebhookTimestamp string `json:"webhook_timestamp"`
	WebhookSignature string `json:"webhook_signature"`
}

func loadVectors(t testing.TB) []vectorCase {
	t.Helper()
	b, err := os.ReadFile("testdata/stdwebhooks.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []vectorCase }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no vector cases")
	}
	return f.Cases
}

// vectorKeys returns the receivers a case can be checked with: one per
// key the case names (the mixed case names both).
func vectorKeys(t *testing.T, c vectorCase) map[string]Keys {
	out := map[string]Keys{}
	if c.Secret != "" {
		s, err := ParseSecret(c.Secret)
		if err != nil {
			t.Fatal(err)
		}
		out["secret"] = Keys{Secrets: [][]byte{s}}
	}
	if c.PublicKey != "" {
		p, err := ParsePublicKey(c.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		out["public_key"] = Keys{PublicKeys: []ed25519.PublicKey{p}}
	}
	if len(out) == 0 {
		t.Fatal("case names no key")
	}
	return out
}

func TestVectors(t *testing.T) {
	for _, c := range loadVectors(t) {
		t.Run(c.Name, func(t *testing.T) {
			valid := strings.HasPrefix(c.Expected, "valid")
			m, err := Parse(c.WebhookID, c.WebhookTimestamp, c.WebhookSignature)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := m.Time.Unix(); got != 1614265330 {
				t.Fatalf("time %d", got)
			}
			if c.SignedContent != "" && string(signedContent(m.ID, m.Timestamp, []byte(c.Payload))) != c.SignedContent {
				t.Fatal("signed content differs from the vector's")
			}
			for name, k := range vectorKeys(t, c) {
				err := k.Verify(m, []byte(c.Payload))
				if valid && err != nil {
					t.Errorf("%s: want valid, got %v", name, err)
				}
				if !valid && !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: want ErrBadSignature, got %v", name, err)
				}
			}
		})
	}
}

// The signers reproduce the published signatures byte for byte (Ed25519
// is deterministic).
func TestSignersReproduceVectors(t *testing.T) {
	for _, c := range loadVectors(t) {
		if !strings.HasPrefix(c.Expected, "valid") || strings.Contains(c.WebhookSignature, " ") {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			var got string
			switch c.Scheme {
			case "v1":
				s, _ := ParseSecret(c.Secret)
				got = Sign([][]byte{s}, c.WebhookID, 1614265330, []byte(c.Payload))
			case "v1a":
				k, err := ParsePrivateKey(c.SecretKey)
				if err != nil {
					t.Fatal(err)
				}
				if FormatPublicKey(k.Public().(ed25519.PublicKey)) != c.PublicKey {
					t.Fatal("whsk_ seed does not give the vector's whpk_")
				}
				if FormatPrivateKey(k) != c.SecretKey {
					t.Fatal("FormatPrivateKey does not round-trip")
				}
				got = SignV1a([]ed25519.PrivateKey{k}, c.WebhookID, 1614265330, []byte(c.Payload))
			default:
				t.Fatalf("scheme %q", c.Scheme)
			}
			if got != c.WebhookSignature {
				t.Fatalf("got %s, want %s", got, c.WebhookSignature)
			}
		})
	}
}

func newSecret(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 24)) }

func TestRotationAnySecretAnyEntry(t *testing.T) {
	old, cur, stranger := newSecret(0), newSecret(1), newSecret(2)
	body := []byte(`{"a":1}`)
	sig := Sign([][]byte{old, cur}, "msg_1", 1700000000, body)
	if strings.Count(sig, "v1,") != 2 || strings.Count(sig, " ") != 1 {
		t.Fatalf("two space-separated entries expected: %s", sig)
	}
	m, err := Parse("msg_1", "1700000000", sig)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]Keys{
		"old only":          {Secrets: [][]byte{old}},
		"new only":          {Secrets: [][]byte{cur}},
		"stranger then new": {Secrets: [][]byte{stranger, cur}},
	} {
		if err := k.Verify(m, body); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := (Keys{Secrets: [][]byte{stranger}}).Verify(m, body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("stranger: %v", err)
	}
	// Each signed part is covered.
	for name, mm := range map[string][3]string{
		"id":        {"msg_2", "1700000000", sig},
		"timestamp": {"msg_1", "1700000001", sig},
	} {
		m2, err := Parse(mm[0], mm[1], mm[2])
		if err != nil {
			t.Fatal(err)
		}
		if err := (Keys{Secrets: [][]byte{cur}}).Verify(m2, body); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
}

func TestSchemesAreTheReceiversChoice(t *testing.T) {
	secret := newSecret(0)
	pub, priv, _ := ed25519.GenerateKey(nil)
	body := []byte("{}")
	v1 := Sign([][]byte{secret}, "m", 1, body)
	v1a := SignV1a([]ed25519.PrivateKey{priv}, "m", 1, body)
	cases := []struct {
		name string
		keys Keys
		sig  string
		want error
	}{
		{"public key refuses v1", Keys{PublicKeys: []ed25519.PublicKey{pub}}, v1, ErrNoSignature},
		{"secret refuses v1a", Keys{Secrets: [][]byte{secret}}, v1a, ErrNoSignature},
		{"public key takes v1a", Keys{PublicKeys: []ed25519.PublicKey{pub}}, v1a, nil},
		{"public key takes v1a after v1", Keys{PublicKeys: []ed25519.PublicKey{pub}}, v1 + " " + v1a, nil},
		{"secret takes v1 after v1a", Keys{Secrets: [][]byte{secret}}, v1a + " " + v1, nil},
		{"unknown versions only", Keys{Secrets: [][]byte{secret}}, "v2," + strings.TrimPrefix(v1, "v1,") + " v0,abc", ErrNoSignature},
		{"v1a entry of wrong length", Keys{PublicKeys: []ed25519.PublicKey{pub}}, "v1a,AAAA", ErrBadSignature},
		{"v1 entry not base64", Keys{Secrets: [][]byte{secret}}, "v1,***", ErrBadSignature},
		{"no keys at all", Keys{}, v1 + " " + v1a, ErrNoSignature},
		// The v1a signature's bytes must not pass as a v1 MAC or back.
		{"v1a value labelled v1", Keys{Secrets: [][]byte{secret}}, "v1," + strings.TrimPrefix(v1a, "v1a,"), ErrBadSignature},
	}
	for _, c := range cases {
		m, err := Parse("m", "1", c.sig)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = c.keys.Verify(m, body)
		if (c.want == nil && err != nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseRefusesMalformedHeaders(t *testing.T) {
	okSig := "v1,AAAA"
	cases := []struct {
		name        string
		id, ts, sig string
		want        error
	}{
		{"no id", "", "1", okSig, ErrMissingHeader},
		{"no timestamp", "m", "", okSig, ErrMissingHeader},
		{"no signature", "m", "1", "", ErrMissingHeader},
		{"blank signature", "m", "1", "   ", ErrMissingHeader},
		{"dot in id", "m.1", "1", okSig, ErrMalformedHeader},
		{"space in id", "m 1", "1", okSig, ErrMalformedHeader},
		{"non-ASCII id", "m\xc3\xa9", "1", okSig, ErrMalformedHeader},
		{"long id", strings.Repeat("m", MaxIDLen+1), "1", okSig, ErrMalformedHeader},
		{"signed timestamp", "m", "+1", okSig, ErrMalformedHeader},
		{"negative timestamp", "m", "-1", okSig, ErrMalformedHeader},
		{"fractional timestamp", "m", "1.5", okSig, ErrMalformedHeader},
		{"timestamp with space", "m", " 1", okSig, ErrMalformedHeader},
		{"huge timestamp", "m", strings.Repeat("9", 19), okSig, ErrMalformedHeader},
		{"entry without comma", "m", "1", "v1AAAA", ErrMalformedHeader},
		{"entry without version", "m", "1", ",AAAA", ErrMalformedHeader},
		{"entry without value", "m", "1", "v1,", ErrMalformedHeader},
		{"too many entries", "m", "1", strings.TrimSpace(strings.Repeat(okSig+" ", MaxSignatureItems+1)), ErrMalformedHeader},
		{"too long", "m", "1", "v1," + strings.Repeat("A", MaxSignatureLen), ErrMalformedHeader},
	}
	for _, c := range cases {
		_, err := Parse(c.id, c.ts, c.sig)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if m, err := Parse("msg_1", "0001614265330", "  v1,AAAA   v9,x "); err != nil || len(m.Entries) != 2 || m.Time.Unix() != 1614265330 {
		t.Fatalf("extra spaces and leading zeros: %+v %v", m, err)
	}
}

func TestParseHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", "msg_1") // any case
	h.Set("WEBHOOK-TIMESTAMP", "1700000000")
	h.Set("Webhook-Signature", "v1,AAAA")
	m, err := ParseHeaders(h)
	if err != nil || m.ID != "msg_1" || !m.Time.Equal(time.Unix(1700000000, 0)) || len(m.Entries) != 1 {
		t.Fatalf("%+v %v", m, err)
	}
	h.Add(HeaderSignature, "v1,BBBB")
	if _, err := ParseHeaders(h); !errors.Is(err, ErrMalformedHeader) {
		t.Fatalf("repeated header: %v", err)
	}
	h.Del(HeaderSignature)
	if _, err := ParseHeaders(h); !errors.Is(err, ErrMissingHeader) {
		t.Fatalf("missing header: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	key := make([]byte, 24)
	if got, err := ParseSecret(FormatSecret(key) + "\n"); err != nil || len(got) != 24 {
		t.Fatalf("%v %v", got, err)
	}
	for _, s := range []string{"", "hunter2-plain-value", "whsec_!!!hunter2", FormatSecret([]byte("short-hunter2")), "whpk_" + base64.StdEncoding.EncodeToString(key)} {
		_, err := ParseSecret(s)
		if err == nil {
			t.Errorf("%q accepted", s)
		} else if s != "" && strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}

func TestParseEd25519Keys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	raw := base64.StdEncoding.EncodeToString(pub)
	for _, s := range []string{FormatPublicKey(pub), raw, " " + raw + "\n"} {
		if got, err := ParsePublicKey(s); err != nil || !got.Equal(pub) {
			t.Errorf("public %q: %v", s, err)
		}
	}
	for _, s := range []string{FormatPrivateKey(priv), base64.StdEncoding.EncodeToString(priv.Seed()), PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv)} {
		if got, err := ParsePrivateKey(s); err != nil || !got.Equal(priv) {
			t.Errorf("private: %v", err)
		}
	}
	_, other, _ := ed25519.GenerateKey(nil)
	mixed := append(append([]byte{}, priv.Seed()...), other.Public().(ed25519.PublicKey)...)
	bad := map[string]func(string) error{
		"whsec_ as public":   func(string) error { _, err := ParsePublicKey(FormatSecret(make([]byte, 32))); return err },
		"whsk_ as public":    func(string) error { _, err := ParsePublicKey(FormatPrivateKey(priv)); return err },
		"whpk_ as private":   func(string) error { _, err := ParsePrivateKey(FormatPublicKey(pub)); return err },
		"short public":       func(string) error { _, err := ParsePublicKey("whpk_AAAA"); return err },
		"not base64":         func(string) error { _, err := ParsePublicKey("whpk_***"); return err },
		"mismatched halves":  func(string) error { _, err := ParsePrivateKey(base64.StdEncoding.EncodeToString(mixed)); return err },
		"private wrong size": func(string) error { _, err := ParsePrivateKey("whsk_AAAA"); return err },
	}
	for name, f := range bad {
		err := f("")
		if err == nil {
			t.Errorf("%s accepted", name)
		} else if strings.Contains(err.Error(), raw) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(priv.Seed())) {
			t.Errorf("%s: error repeats key material: %v", name, err)
		}
	}
}
