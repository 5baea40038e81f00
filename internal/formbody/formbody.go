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
	"encoding/binary"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// Form is a list of key=value parameters in which every key occurs once.
// Lookups do not depend on the wire order; Pairs keeps it.
//
// A parsed form finds keys by binary search: in pairs themselves when
// they arrived sorted (as providers send them), else in byOrder, which it
// sorts once anyway for the signed string (AppendSigned). A form a caller
// builds with Add keeps a map instead, so each Add stays constant time.
type Form struct {
	pairs   []Pair
	byOrder []int32 // indexes into pairs by key in byte order (parsed, unsorted)
	// all is a parsed form's decoded body with its '=' and '&': the pairs
	// follow each other in it, so a run of pairs whose wire order is their
	// byte order is one slice of it.
	all    string
	parsed bool
	index  map[string]int
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
		f.byOrder, f.all, f.parsed = nil, "", false
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
	// One buffer holds the decoded body, '=' and '&' kept: decoding never
	// grows a string, so len(b) bytes always suffice. ends[i] are the ends
	// of pair i's key and value in it (each pair starts one byte after the
	// previous one ends).
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
		if w, err = unescapeInto(buf, w, b, start, start+eq); err != nil {
			return nil, err
		}
		keyEnd := w
		buf[w] = '='
		if w, err = unescapeInto(buf, w+1, b, start+eq+1, end); err != nil {
			return nil, err
		}
		ends = append(ends, [2]int{keyEnd, w})
		if end < len(b) {
			buf[w] = '&'
			w++
		}
		start = end + 1
	}
	return newParsed(buf[:w], ends)
}

// newParsed builds the form of a decoded body and its pairs' ends, and
// orders its keys.
func newParsed(buf []byte, ends [][2]int) (*Form, error) {
	// Every notification is parsed here: one string for all keys and
	// values, instead of one per key and one per value read as text.
	all := string(buf)
	f := &Form{pairs: make([]Pair, len(ends)), all: all, parsed: true}
	sorted, from := true, 0
	for i, e := range ends {
		// The full slice expression caps the value so no later append can
		// write into it.
		f.pairs[i] = Pair{Key: all[from:e[0]], Value: buf[e[0]+1 : e[1] : e[1]], Text: all[e[0]+1 : e[1]]}
		if i > 0 && sorted && f.pairs[i-1].Key >= f.pairs[i].Key {
			sorted = false
		}
		from = e[1] + 1
	}
	if sorted {
		// Providers send their keys sorted (they sign them so): strictly
		// increasing keys need no index and hold no repeated key.
		return f, nil
	}
	f.byOrder = make([]int32, len(f.pairs))
	for i := range f.byOrder {
		f.byOrder[i] = int32(i)
	}
	slices.SortFunc(f.byOrder, func(x, y int32) int { return strings.Compare(f.pairs[x].Key, f.pairs[y].Key) })
	for o := 1; o < len(f.byOrder); o++ {
		if f.pairs[f.byOrder[o-1]].Key == f.pairs[f.byOrder[o]].Key {
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

// unescapeInto form-decodes b[i:to] into dst at w and returns the new
// end; error details name offsets in b.
//
// Most of a body is plain bytes: they are copied eight at a time up to
// the next '+' or '%', the last word of a key or value read across its
// end (masked) unless b ends within it. dst is as long as b and holds
// the decoded body, in which every byte sits at or before its source's
// offset, so the eight bytes at w are always dst's own; those after the
// decoded bytes are overwritten next or lie past the end.
func unescapeInto(dst []byte, w int, b []byte, i, to int) (int, error) {
	for i < to {
		if i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(dst[w:], x)
			m := specials(x)
			if n := to - i; n < 8 {
				m &= 1<<(8*n) - 1 // the bytes before to only
				if m == 0 {
					return w + n, nil
				}
			}
			if m == 0 {
				w, i = w+8, i+8
				continue
			}
			k := bits.TrailingZeros64(m) / 8
			w, i = w+k, i+k
		}
		c := b[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= to {
				return 0, reason.New(reason.Malformed, "form: truncated percent-escape at byte %d", i)
			}
			hi, ok1 := unhex(b[i+1])
			lo, ok2 := unhex(b[i+2])
			if !ok1 || !ok2 {
				return 0, reason.New(reason.Malformed, "form: invalid percent-escape at byte %d", i)
			}
			c = hi<<4 | lo
			i += 2
		}
		dst[w] = c
		w, i = w+1, i+1
	}
	return w, nil
}

// specials has the high bit of each byte of x that is '+' or '%' set,
// and of no byte below the first such (Hacker's Delight 6-1: a borrow
// can mark bytes above a match, never below), so its lowest set bit
// finds the first special byte.
func specials(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	p := x ^ (ones * '%')
	q := x ^ (ones * '+')
	return ((p - ones) &^ p & highs) | ((q - ones) &^ q & highs)
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
	// A binary search by the operators, not slices.BinarySearchFunc: its
	// comparison is a call through a function value at every step, and
	// every notification looks up its few fixed keys here.
	lo, hi := 0, len(f.pairs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f.pairs[f.sortedIndex(m)].Key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(f.pairs) && f.pairs[f.sortedIndex(lo)].Key == key {
		return f.sortedIndex(lo), true
	}
	return 0, false
}

// sortedIndex is the index in pairs of the o-th key in byte order.
func (f *Form) sortedIndex(o int) int {
	if f.byOrder == nil {
		return o
	}
	return int(f.byOrder[o])
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

// Lookup is Value and whether key is present.
func (f *Form) Lookup(key string) (string, bool) {
	i, ok := f.find(key)
	if !ok {
		return "", false
	}
	return f.pairs[i].Text, true
}

// Has reports whether key is present (possibly with an empty value).
func (f *Form) Has(key string) bool {
	_, ok := f.find(key)
	return ok
}

// ValidUTF8 reports whether every key and value is valid UTF-8. A parsed
// form checks its decoded body once: its separators are ASCII, so the
// body is valid exactly when every key and value is.
func (f *Form) ValidUTF8() bool {
	if f.parsed {
		return utf8.ValidString(f.all)
	}
	for _, p := range f.pairs {
		if !utf8.ValidString(p.Key) || !utf8.ValidString(p.Text) {
			return false
		}
	}
	return true
}

// Len is the number of parameters.
func (f *Form) Len() int { return len(f.pairs) }

// Pairs returns the parameters in wire order. The slice is the form's own:
// callers read it, never change it.
func (f *Form) Pairs() []Pair { return f.pairs }

// AppendSigned appends the form's pairs to dst as k=v&k=v, keys in byte
// order, the decoded values as they are, leaving out the keys in skip:
// the string Alipay and UnionPay sign. A parsed form copies each run of
// pairs that arrived in byte order (usually all of them) as one slice of
// its decoded body.
func (f *Form) AppendSigned(dst []byte, skip ...string) []byte {
	if !f.parsed {
		return f.appendSignedByKey(dst, skip)
	}
	// starts[i] is where pair i starts in f.all.
	var small [64]int
	starts := small[:0]
	if len(f.pairs) > len(small) {
		starts = make([]int, 0, len(f.pairs))
	}
	from := 0
	for _, p := range f.pairs {
		starts = append(starts, from)
		from += len(p.Key) + 1 + len(p.Text) + 1
	}
	first := true
	runStart, runEnd, last := 0, 0, -2 // the run is pairs up to index last
	for o := range f.pairs {
		i := f.sortedIndex(o)
		p := &f.pairs[i]
		if slices.Contains(skip, p.Key) {
			continue
		}
		if i != last+1 {
			dst = appendRun(dst, f.all[runStart:runEnd], &first)
			runStart = starts[i]
		}
		runEnd, last = starts[i]+len(p.Key)+1+len(p.Text), i
	}
	return appendRun(dst, f.all[runStart:runEnd], &first)
}

// appendRun appends one run of k=v pairs, after an '&' unless it is the
// first.
func appendRun(dst []byte, run string, first *bool) []byte {
	if run == "" {
		return dst
	}
	if !*first {
		dst = append(dst, '&')
	}
	*first = false
	return append(dst, run...)
}

// appendSignedByKey is AppendSigned for a form built with Add.
func (f *Form) appendSignedByKey(dst []byte, skip []string) []byte {
	first := true
	for _, k := range f.Keys() {
		if slices.Contains(skip, k) {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, f.pairs[f.index[k]].Value...)
	}
	return dst
}

// Keys returns the keys sorted by byte order, the order Alipay and
// UnionPay sign in.
func (f *Form) Keys() []string {
	ks := make([]string, len(f.pairs))
	if f.index == nil {
		for o := range ks {
			ks[o] = f.pairs[f.sortedIndex(o)].Key
		}
		return ks
	}
	for i, p := range f.pairs {
		ks[i] = p.Key
	}
	sort.Strings(ks)
	return ks
}
