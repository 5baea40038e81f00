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
	"strings"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// Form is a list of key=value parameters in which every key occurs once.
// Lookups do not depend on the wire order; Pairs keeps it.
//
// A parsed form finds keys by binary search in byOrder, which it sorts
// once anyway for the signed string (Keys); a form a caller builds with
// Add keeps a map instead, so each Add stays constant time.
type Form struct {
	pairs   []Pair
	byOrder []int32 // indexes into pairs, by key in byte order (parsed)
	index   map[string]int
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
	if f.index == nil {
		// A parsed form: keys are unique, so the map holds every pair.
		f.index = make(map[string]int, len(f.pairs)+1)
		for i, p := range f.pairs {
			f.index[p.Key] = i
		}
		f.byOrder = nil
	}
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
	buf := make([]byte, len(b))
	var small [64][2]int
	ends := small[:0]
	if n > len(small) {
		ends = make([][2]int, 0, n)
	}
	w := 0
	for start := 0; start <= len(b); {
		end := bytes.IndexByte(b[start:], '&')
		if end < 0 {
			end = len(b)
		} else {
			end += start
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
		if w, err = unescapeInto(buf, w, seg[:eq], start); err != nil {
			return nil, err
		}
		keyEnd := w
		if w, err = unescapeInto(buf, w, seg[eq+1:], start+eq+1); err != nil {
			return nil, err
		}
		ends = append(ends, [2]int{keyEnd, w})
		start = end + 1
	}
	// Every notification is parsed here: one string for all keys and
	// values, instead of one per key and one per value read as text.
	all := string(buf[:w])
	f := &Form{pairs: make([]Pair, len(ends)), byOrder: make([]int32, len(ends))}
	from := 0
	for i, e := range ends {
		// The full slice expression caps the value so no later append can
		// write into it.
		f.pairs[i] = Pair{Key: all[from:e[0]], Value: buf[e[0]:e[1]:e[1]], Text: all[e[0]:e[1]]}
		f.byOrder[i] = int32(i)
		from = e[1]
	}
	slices.SortFunc(f.byOrder, func(x, y int32) int { return strings.Compare(f.pairs[x].Key, f.pairs[y].Key) })
	for i := 1; i < len(f.byOrder); i++ {
		if f.pairs[f.byOrder[i-1]].Key == f.pairs[f.byOrder[i]].Key {
			return nil, firstRepeated(f.pairs)
		}
	}
	return f, nil
}

// firstRepeated names the first key, in wire order, that occurs a second
// time.
func firstRepeated(pairs []Pair) error {
	seen := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		if seen[p.Key] {
			return reason.New(reason.Malformed, "form: parameter %s occurs twice", strictjson.Quote(p.Key))
		}
		seen[p.Key] = true
	}
	return reason.New(reason.Malformed, "form: a parameter occurs twice")
}

// unescapeInto form-decodes s into dst at w and returns the new end. off
// is s's offset in the whole input, for the error detail.
func unescapeInto(dst []byte, w int, s []byte, off int) (int, error) {
	dst = dst[w : w+len(s)] // decoding never grows: one bounds check here
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(s) {
				return 0, reason.New(reason.Malformed, "form: truncated percent-escape at byte %d", off+i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return 0, reason.New(reason.Malformed, "form: invalid percent-escape at byte %d", off+i)
			}
			c = hi<<4 | lo
			i += 2
		}
		dst[n] = c
		n++
	}
	return w + n, nil
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

// find returns the index in pairs of key.
func (f *Form) find(key string) (int, bool) {
	if f.index != nil {
		i, ok := f.index[key]
		return i, ok
	}
	o, ok := slices.BinarySearchFunc(f.byOrder, key, func(i int32, k string) int { return strings.Compare(f.pairs[i].Key, k) })
	if !ok {
		return 0, false
	}
	return int(f.byOrder[o]), true
}

// Get returns the raw value of key and whether it is present.
func (f *Form) Get(key string) ([]byte, bool) {
	i, ok := f.find(key)
	if !ok {
		return nil, false
	}
	return f.pairs[i].Value, true
}

// Value is Get as a string, "" when absent.
func (f *Form) Value(key string) string {
	i, ok := f.find(key)
	if !ok {
		return ""
	}
	return f.pairs[i].Text
}

// Has reports whether key is present (possibly with an empty value).
func (f *Form) Has(key string) bool {
	_, ok := f.find(key)
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
	if f.index == nil {
		for o, i := range f.byOrder {
			ks[o] = f.pairs[i].Key
		}
		return ks
	}
	for i, p := range f.pairs {
		ks[i] = p.Key
	}
	sort.Strings(ks)
	return ks
}
