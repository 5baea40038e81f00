package generic

import (
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
