package generic

import (
	"net/http"
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

// Every parser refuses with malformed, never panics, and what it accepts
// has unique keys.

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=%41+b", "a=1&a=2", "a=%zz", "&", "=", "a=1&"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := parseForm(b)
		checkParsed(t, fields, err)
	})
}

func FuzzParseXML(f *testing.F) {
	for _, s := range []string{"<xml><a>1</a></xml>", "<xml><a><![CDATA[x]]></a></xml>", "<!DOCTYPE x><xml/>", "<xml><a>&amp;</a></xml>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, _, err := parseXML(b)
		checkParsed(t, fields, err)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,2]},"c":"x"}`, `{"a":1,"a":2}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, _, err := parseJSON(b)
		checkParsed(t, fields, err)
	})
}

// FuzzDecodeSignature: both encodings never panic; a refusal is
// bad_signature, and hex decoding ignores case.
func FuzzDecodeSignature(f *testing.F) {
	for _, s := range []string{"9a0a", "9A0A", "AQID", "AQ==", "", "zz", "A"} {
		f.Add(s)
	}
	hexScheme, b64 := &Scheme{Encoding: "hex"}, &Scheme{Encoding: "base64"}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sc := range []*Scheme{hexScheme, b64} {
			b, err := sc.decodeSignature(s)
			if err != nil {
				if reason.CodeOf(err, "") != reason.BadSignature {
					t.Fatalf("%s: %v", sc.Encoding, err)
				}
				continue
			}
			if len(b) == 0 {
				t.Fatalf("%s: empty signature accepted", sc.Encoding)
			}
			if sc.Encoding == "hex" {
				if again, _ := sc.decodeSignature(sc.encodeSignature(b)); string(again) != string(b) {
					t.Fatal("hex round trip")
				}
			}
		}
	})
}

func checkParsed(t *testing.T, fields []field, err error) {
	t.Helper()
	if err != nil {
		if reason.CodeOf(err, "") != reason.Malformed {
			t.Fatalf("refusal %v is not malformed", err)
		}
		return
	}
	seen := map[string]bool{}
	for _, fl := range fields {
		if seen[fl.key] {
			t.Fatalf("key %q accepted twice", fl.key)
		}
		seen[fl.key] = true
	}
}

// FuzzVerifyNotify runs whole verifications, for a parse-first scheme
// (form, field signature, md5) and a verify-first one (JSON, header
// signature): never a panic, every refusal a reason, and nothing accepted
// whose signed content the secret did not sign. Signed content, not bytes:
// a sorted_fields scheme leaves empty fields out by default (empty_fields
// skip, as Alipay and WeChat Pay do), so "y=" added to a signed body is the
// same signed message.
func FuzzVerifyNotify(f *testing.F) {
	form := baseValues()
	form["algorithm"], form["key_suffix"] = []string{AlgMD5WithKey}, []string{"&key={secret}"}
	json := layoutValues(layouts[3], AlgHMACSHA256, "base64")
	json["secret"] = []string{"s"}
	providers := []*Provider{mustBuild(f, form), mustBuild(f, json)}
	signed := make([]map[string]bool, len(providers))
	for i, p := range providers {
		body := []byte(layouts[0].body)
		if p.scheme.Format == formatJSON {
			body = []byte(layouts[3].body)
		}
		sb, h, err := (&Signer{Scheme: p.scheme, Secret: []byte("s")}).SignBody(body)
		if err != nil {
			f.Fatal(err)
		}
		signed[i] = map[string]bool{signedContent(f, p, sb, h["X-Sig"]): true}
		f.Add(sb, h["X-Sig"])
	}
	f.Add([]byte("a=1&sign=zz"), "")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		for i, p := range providers {
			v, err := p.VerifyNotify(request(body, map[string]string{"X-Sig": sig}))
			if err != nil {
				if reason.CodeOf(err, "") == "" {
					t.Fatalf("refusal without a reason: %v", err)
				}
				continue
			}
			if v == nil || !signed[i][signedContent(t, p, body, sig)] {
				t.Fatalf("accepted a body nobody signed: %q", body)
			}
		}
	})
}

// signedContent is what the scheme signs of an accepted body, with the
// fuzz secret.
func signedContent(t testing.TB, p *Provider, body []byte, sig string) string {
	t.Helper()
	m, err := parseBody(p.scheme.Format, body)
	if err != nil {
		t.Fatalf("an accepted body does not parse: %v", err)
	}
	h := http.Header{}
	h.Set("X-Sig", sig)
	var v signedValues
	for _, headers := range []bool{true, false} {
		if err := readValues(&p.scheme, m, h, &v, headers); err != nil {
			t.Fatalf("an accepted body's values do not read: %v", err)
		}
	}
	b, err := p.scheme.signedBytes(m, []byte("s"), v)
	if err != nil {
		t.Fatalf("an accepted body's signed bytes: %v", err)
	}
	return string(b)
}
