// Package formbody parses application/x-www-form-urlencoded bodies
// strictly, for signed input.
//
// url.ParseQuery and http.Request.ParseForm are too forgiving for a body
// whose signature payguard checks: they keep the first of repeated keys,
// merge the URL query into the body and skip empty segments, which lets
// an attacker smuggle a second value past a verifier that reads another
// one. Values stay raw bytes: a provider that signs the bytes of its own
// charset (Alipay's GBK) transcodes only after the signature holds. The
// providers' own rules (which keys are signed, charsets, answer dialects)
// stay in their packages.
package formbody

import (
	"bytes"
	"slices"
	"sort"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// Form is a list of key=value parameters in which every key occurs once.
// Lookups do not depend on the wire order; Pairs keeps it.
type Form struct {
	pairs []Pair
	index map[string]int
}

// Pair is one parameter: its key and its raw (percent-decoded, not
// transcoded) value.
type Pair struct {
	Key   string
	Value []byte
	// Text is Value as a string. In a parsed form every key and Text
	// slice one string, so reading values as strings allocates nothing.
	Text string
}

// New returns an empty form with room for n parameters, for parameters a
// caller builds itself (a provider's own answer dialect, a message to
// sign).
func New(n int) *Form {
	return &Form{pairs: make([]Pair, 0, n), index: make(map[string]int, n)}
}

// Add appends a parameter. A key seen before is malformed, never a second
// value. val is kept, not copied.
func (f *Form) Add(key string, val []byte) error {
	if !f.add(key, val) {
		return reason.New(reason.Malformed, "parameter %s occurs twice", strictjson.Quote(key))
	}
	return nil
}

func (f *Form) add(key string, val []byte) bool {
	if _, dup := f.index[key]; dup {
		return false
	}
	f.index[key] = len(f.pairs)
	f.pairs = append(f.pairs, Pair{Key: key, Value: val, Text: string(val)})
	return true
}

// Parse parses b as application/x-www-form-urlencoded, strictly:
//   - segments are separated by '&' only (';' is an ordinary byte);
//   - every segment is key=value; a segment without '=', an empty segment
//     (as in "a=1&&b=2" or a trailing '&') and an empty key are malformed;
//   - '+' is a space and %XX is the byte 0xXX, in keys and values; a '%'
//     not followed by two hex digits is malformed;
//   - a key occurring twice (after decoding) is malformed;
//   - any other byte, including raw non-ASCII bytes and further '=', is
//     taken literally.
//
// An empty b is an empty form. Errors are *reason.Error with code
// malformed; their detail names a byte offset or a shortened key, never a
// value.
func Parse(b []byte) (*Form, error) {
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
		if buf, err = appendUnescaped(buf, seg[:eq], start); err != nil {
			return nil, err
		}
		keyEnd := len(buf)
		if buf, err = appendUnescaped(buf, seg[eq+1:], start+eq+1); err != nil {
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
		// The full slice expression caps the value so no later append can
		// write into it.
		f.pairs[i] = Pair{Key: key, Value: buf[e[0]:e[1]:e[1]], Text: all[e[0]:e[1]]}
		from = e[1]
	}
	return f, nil
}

// appendUnescaped appends the form-decoded s to dst. off is s's offset in
// the whole input, for the error detail.
func appendUnescaped(dst, s []byte, off int) ([]byte, error) {
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

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Get returns the raw value of key and whether it is present.
func (f *Form) Get(key string) ([]byte, bool) {
	i, ok := f.index[key]
	if !ok {
		return nil, false
	}
	return f.pairs[i].Value, true
}

// Value is Get as a string, "" when absent.
func (f *Form) Value(key string) string {
	i, ok := f.index[key]
	if !ok {
		return ""
	}
	return f.pairs[i].Text
}

// Has reports whether key is present (possibly with an empty value).
func (f *Form) Has(key string) bool {
	_, ok := f.index[key]
	return ok
}

// Len is the number of parameters.
func (f *Form) Len() int { return len(f.pairs) }

// Pairs returns the parameters in wire order. The slice is the form's own:
// callers read it, never change it.
func (f *Form) Pairs() []Pair { return f.pairs }

// AppendSigned appends the pairs of keys to dst as k=v&k=v with the
// decoded values as they are, leaving out the keys in skip: the string
// Alipay and UnionPay sign, over the keys in byte order (Keys).
func (f *Form) AppendSigned(dst []byte, keys []string, skip ...string) []byte {
	first := true
	for _, k := range keys {
		if slices.Contains(skip, k) {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		v, _ := f.Get(k)
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, v...)
	}
	return dst
}

// Keys returns the keys sorted by byte order, the order Alipay and
// UnionPay sign in.
func (f *Form) Keys() []string {
	ks := make([]string, len(f.pairs))
	for i, p := range f.pairs {
		ks[i] = p.Key
	}
	sort.Strings(ks)
	return ks
}
