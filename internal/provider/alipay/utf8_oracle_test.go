package alipay

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding"

	"github.com/payguard/payguard/internal/reason"
)

// toUTF8Oracle is toUTF8 as it was before it built the Raw map itself:
// a map of strings, checked for a repeated key whatever the charset.
func toUTF8Oracle(form *Form, dec *encoding.Decoder) (map[string]string, error) {
	out := make(map[string]string, form.Len())
	for _, pr := range form.Pairs() {
		if pr.Key == "sign" || pr.Key == "sign_type" {
			continue
		}
		k, v := pr.Key, pr.Value
		if dec != nil {
			kb, err := dec.Bytes([]byte(k))
			if err != nil {
				return nil, reason.New(reason.Malformed, "parameter %s: not in its charset", quoteKey(k))
			}
			vb, err := dec.Bytes([]byte(pr.Value))
			if err != nil {
				return nil, reason.New(reason.Malformed, "parameter %s: not in its charset", quoteKey(k))
			}
			k, v = string(kb), string(vb)
		} else if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, reason.New(reason.Malformed, "parameter %s: not valid UTF-8", quoteKey(strings.ToValidUTF8(k, "?")))
		}
		if _, dup := out[k]; dup {
			return nil, reason.New(reason.Malformed, "parameter %s occurs twice after transcoding", quoteKey(k))
		}
		out[k] = v
	}
	return out, nil
}

// FuzzToUTF8MatchesOracle: toUTF8 refuses what the former one refused,
// with the same detail, and otherwise returns the same parameters, every
// value a string.
func FuzzToUTF8MatchesOracle(f *testing.F) {
	for _, s := range formSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte("charset=gbk&a=%B2%E2&b=1"))
	f.Add([]byte("charset=gb18030&%B2%E2=1&%81%30=2"))
	f.Add([]byte("charset=GBK&a=%FF"))
	f.Add([]byte("charset=utf-8&a=%FF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		form, err := ParseForm(b)
		if err != nil {
			return
		}
		dec, err := charsetDecoder(form)
		if err != nil {
			return
		}
		ps, gotErr := toUTF8(form, dec)
		want, wantErr := toUTF8Oracle(form, dec)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("%q: error %v, oracle %v", b, gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		got := ps.fields()
		if len(got) != len(want) {
			t.Fatalf("%q: %d parameters, oracle %d", b, len(got), len(want))
		}
		for k, v := range want {
			if s, ok := got[k].(string); !ok || s != v {
				t.Fatalf("%q: %q = %#v, oracle %q", b, k, got[k], v)
			}
			if s, ok := ps.lookup(k); !ok || s != v {
				t.Fatalf("%q: lookup %q = %q, %v; oracle %q", b, k, s, ok, v)
			}
		}
		// What the oracle left out (sign, sign_type) is absent to the
		// checks too.
		for i := range form.Len() {
			k, _ := form.At(i)
			if _, in := want[k]; dec == nil && ps.has(k) != in {
				t.Fatalf("%q: has %q = %v, oracle %v", b, k, !in, in)
			}
		}
	})
}

// BenchmarkToUTF8 is toUTF8 on Alipay's own notification, which now
// defers the Raw map, against toUTF8 with the map built (what a
// normalized forward or a policy pays) and the former map of strings.
func BenchmarkToUTF8(b *testing.B) {
	c := vector(b, "notify_trade_status_sync_public_key_mode")
	form, err := ParseForm([]byte(c.FormBody))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("deferred", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := toUTF8(form, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fields", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ps, err := toUTF8(form, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = ps.fields()
		}
	})
	b.Run("strings", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := toUTF8Oracle(form, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
