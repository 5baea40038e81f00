package formbody

// Parse as it was before its single buffer by index and sorted lookup:
// the oracle FuzzParseMatchesOracle holds Parse to.

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

func parseOracle(b []byte) (*Form, error) {
	if len(b) == 0 {
		return New(0), nil
	}
	n := bytes.Count(b, []byte{'&'}) + 1
	// One buffer holds every decoded key and value: decoding never grows
	// a string, so len(b) bytes always suffice. ends[i] are the ends of
	// pair i's key and value in it (each starts where the previous ends).
	buf := make([]byte, 0, len(b))
	ends := make([][2]int, 0, n)
	for start := 0; start <= len(b); {
		end := start
		for end < len(b) && b[end] != '&' {
			end++
		}
		seg := b[start:end]
		eq := bytes.IndexByte(seg, '=')
		switch {
		case len(seg) == 0:
			return nil, reason.New(reason.Malformed, "form: empty parameter at byte %d", start)
		case eq < 0:
			return nil, reason.New(reason.Malformed, "form: parameter at byte %d has no '='", start)
		case eq == 0:
			return nil, reason.New(reason.Malformed, "form: empty key at byte %d", start)
		}
		var err error
		if buf, err = appendUnescapedOracle(buf, seg[:eq], start); err != nil {
			return nil, err
		}
		keyEnd := len(buf)
		if buf, err = appendUnescapedOracle(buf, seg[eq+1:], start+eq+1); err != nil {
			return nil, err
		}
		ends = append(ends, [2]int{keyEnd, len(buf)})
		start = end + 1
	}
	// Every notification is parsed here: one string for all keys and
	// values, instead of one per key and one per value read as text.
	all := string(buf)
	f := &Form{pairs: make([]Pair, len(ends)), index: make(map[string]int, len(ends))}
	from := 0
	for i, e := range ends {
		key := all[from:e[0]]
		if _, dup := f.index[key]; dup {
			return nil, reason.New(reason.Malformed, "form: parameter %s occurs twice", strictjson.Quote(key))
		}
		f.index[key] = i
		f.pairs[i] = Pair{Key: key, Value: all[e[0]:e[1]]}
		from = e[1]
	}
	return f, nil
}

// appendUnescaped appends the form-decoded s to dst. off is s's offset in
// the whole input, for the error detail.
func appendUnescapedOracle(dst, s []byte, off int) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) {
				return nil, reason.New(reason.Malformed, "form: truncated percent-escape at byte %d", off+i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, reason.New(reason.Malformed, "form: invalid percent-escape at byte %d", off+i)
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

// FuzzParseMatchesOracle: Parse accepts and refuses exactly what the
// former implementation did, with the same error detail, the same pairs
// in wire order, the same sorted keys and the same lookups.
func FuzzParseMatchesOracle(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "a=1&a=2", "a=%zz", "a+b=%2B&c=%e8%af%ad", "=&=&", "a=1;b=2", "a=\xb2\xe2",
		"a", "=1", "a=1&&b", "k=%2B+%0A", "a=1&", "a=1&b=2&a=3&b=4", "b=1&a=2&a=3", "a=%4", "a=1%", "%=1",
		"a=1&b=2&d=4&c=3&e=5", "a=%26&b=%3D&c=+", "b=1&a=2&c=3&d=4", "a=%E4&b=%B8%AD", "%E4=%B8%AD",
		"charset=utf-8&notify_id=ac05099524730693a8b330c5ecf72da9786&sign=ab%2B%3D&total_amount=2.00",
		// Around the 4096 bytes Parse decodes on its stack: the heap beyond.
		"k=" + strings.Repeat("%2B", 1364) + "&z=1", "k=" + strings.Repeat("v", 4094), "k=" + strings.Repeat("v", 4095) + "&b=%zz",
	} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, b []byte, probe string) {
		got, gotErr := Parse(b)
		want, wantErr := parseOracle(b)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("%q: Parse error %v, oracle error %v", b, gotErr, wantErr)
		}
		if gotErr != nil {
			if reason.CodeOf(gotErr, "") != reason.Malformed {
				t.Fatalf("error %v is not malformed", gotErr)
			}
			return
		}
		if !reflect.DeepEqual(got.Pairs(), want.Pairs()) && !(got.Len() == 0 && want.Len() == 0) {
			t.Fatalf("%q: pairs %q, oracle %q", b, got.Pairs(), want.Pairs())
		}
		if !reflect.DeepEqual(got.Keys(), want.Keys()) {
			t.Fatalf("%q: keys %q, oracle %q", b, got.Keys(), want.Keys())
		}
		// The oracle's form keeps a map, so its signed string is built key
		// by key; Parse's copies runs of its decoded body.
		for _, skip := range [][]string{nil, {probe}, want.Keys()[:len(want.Keys())/2]} {
			if g, w := got.AppendSigned(nil, skip...), want.AppendSigned(nil, skip...); !bytes.Equal(g, w) {
				t.Fatalf("%q: signed string without %q: %q, oracle %q", b, skip, g, w)
			}
		}
		valid := true
		for _, p := range want.Pairs() {
			valid = valid && utf8.ValidString(p.Key) && utf8.ValidString(p.Value)
		}
		if got.ValidUTF8() != valid || want.ValidUTF8() != valid {
			t.Fatalf("%q: ValidUTF8 %v (oracle's form %v), pairs say %v", b, got.ValidUTF8(), want.ValidUTF8(), valid)
		}
		for _, k := range append(want.Keys(), probe) {
			gv, gok := got.Lookup(k)
			wv, wok := want.Lookup(k)
			if gok != wok || gv != wv || got.Value(k) != want.Value(k) || got.Has(k) != want.Has(k) {
				t.Fatalf("%q: key %q: %q %v, oracle %q %v", b, k, gv, gok, wv, wok)
			}
		}
	})
}
