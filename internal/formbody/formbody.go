// Package formbody parses application/x-www-form-urlencoded bodies
// strictly, for signed input.
//
// url.ParseQuery and http.Request.ParseForm are too forgiving for a body
// whose signature payguard checks: they keep the first of repeated keys,
// merge the URL query into the body and skip empty segments, which lets
// an attacker smuggle a second value past a verifier that reads another
// one. Values stay raw (percent-decoded, not transcoded): a provider that
// signs the bytes of its own charset (Alipay's GBK) transcodes only after
// the signature holds. The
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
// Lookups do not depend on the wire order; Len and At keep it.
//
// A parsed form holds its decoded body as one string and the ends of each
// pair in it: reading a key or value allocates nothing, and the form is
// three allocations whatever its size (the string, the ends, the Form).
// It finds keys by binary search: in wire order when they arrived sorted
// (as providers send them), else in byOrder, sorted once anyway for the
// signed string (AppendSigned). A form a caller builds with Add keeps
// pairs and a map instead, so each Add stays constant time.
type Form struct {
	// all is a parsed form's decoded body with its '=' and '&': the pairs
	// follow each other in it, so a run of pairs whose wire order is their
	// byte order is one slice of it. ends[i] are where pair i's key and
	// value end in it; each pair starts one byte after the previous ends.
	all     string
	ends    [][2]int
	byOrder []int32 // indexes by key in byte order (parsed, unsorted)
	pairs   []Pair  // a built form's pairs
	index   map[string]int
}

// Pair is one parameter: its key and its raw (percent-decoded, not
// transcoded) value.
type Pair struct {
	Key   string
	Value string
}

// New returns an empty form with room for n parameters, for parameters a
// caller builds itself (a provider's own answer dialect, a message to
// sign).
func New(n int) *Form {
	return &Form{pairs: make([]Pair, 0, n), index: make(map[string]int, n)}
}

// Add appends a parameter. A key seen before is malformed, never a second
// value.
func (f *Form) Add(key string, val []byte) error {
	if !f.add(key, string(val)) {
		return reason.New(reason.Malformed, "parameter %s occurs twice", strictjson.Quote(key))
	}
	return nil
}

func (f *Form) add(key, val string) bool {
	if f.index == nil {
		// A parsed form becomes a built one: keys are unique, so the map
		// holds every pair.
		f.pairs = f.Pairs()
		f.index = make(map[string]int, len(f.pairs)+1)
		for i, p := range f.pairs {
			f.index[p.Key] = i
		}
		f.all, f.ends, f.byOrder = "", nil, nil
	}
	if _, dup := f.index[key]; dup {
		return false
	}
	f.index[key] = len(f.pairs)
	f.pairs = append(f.pairs, Pair{Key: key, Value: val})
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
	// The decoded body, '=' and '&' kept, is written by index into one
	// buffer (decoding never grows a string, so len(b) bytes always
	// suffice) and becomes the string the form keeps with one copy:
	// cheaper than a strings.Builder's checks on each of the hundreds of
	// escapes in a provider's body. The buffer is on the stack for a
	// body of a notification's size (UnionPay's are 2-3 KiB, most of it
	// the certificate), so the copy is the only allocation of its bytes.
	var stack [4096]byte
	dst := stack[:]
	if len(b) > len(stack) {
		dst = make([]byte, len(b))
	}
	w := 0
	ends := make([][2]int, 0, n)
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
		if w, err = unescapeTo(dst, w, b, start, start+eq); err != nil {
			return nil, err
		}
		keyEnd := w
		dst[w] = '='
		if w, err = unescapeTo(dst, w+1, b, start+eq+1, end); err != nil {
			return nil, err
		}
		ends = append(ends, [2]int{keyEnd, w})
		if end < len(b) {
			dst[w] = '&'
			w++
		}
		start = end + 1
	}
	f := &Form{all: string(dst[:w]), ends: ends}
	return f, f.order()
}

// order finds the keys' byte order: none to keep when they arrived
// sorted, which also means no key repeats.
func (f *Form) order() error {
	sorted := true
	for i := 1; i < len(f.ends) && sorted; i++ {
		sorted = f.key(i-1) < f.key(i)
	}
	if sorted {
		return nil
	}
	f.byOrder = make([]int32, len(f.ends))
	for i := range f.byOrder {
		f.byOrder[i] = int32(i)
	}
	slices.SortFunc(f.byOrder, func(x, y int32) int { return strings.Compare(f.key(int(x)), f.key(int(y))) })
	for o := 1; o < len(f.byOrder); o++ {
		if f.key(int(f.byOrder[o-1])) == f.key(int(f.byOrder[o])) {
			return firstRepeated(f)
		}
	}
	return nil
}

// start is where parsed pair i starts in f.all.
func (f *Form) start(i int) int {
	if i == 0 {
		return 0
	}
	return f.ends[i-1][1] + 1
}

// key is pair i's key.
func (f *Form) key(i int) string {
	if f.index != nil {
		return f.pairs[i].Key
	}
	return f.all[f.start(i):f.ends[i][0]]
}

// At returns pair i's key and value, in wire order (i < Len()).
func (f *Form) At(i int) (key, value string) {
	if f.index != nil {
		return f.pairs[i].Key, f.pairs[i].Value
	}
	e := f.ends[i]
	return f.all[f.start(i):e[0]], f.all[e[0]+1 : e[1]]
}

// firstRepeated names the first key, in wire order, that occurs a second
// time.
func firstRepeated(f *Form) error {
	seen := make(map[string]bool, f.Len())
	for i := range f.Len() {
		k := f.key(i)
		if seen[k] {
			return reason.New(reason.Malformed, "form: parameter %s occurs twice", strictjson.Quote(k))
		}
		seen[k] = true
	}
	return reason.New(reason.Malformed, "form: a parameter occurs twice")
}

// unescapeTo form-decodes b[i:to] into dst from w on and returns where
// it stopped writing; error details name offsets in b. dst has room: a
// decoded byte never takes more than its encoding.
//
// Most of a body is plain bytes: they are passed over eight at a time up
// to the next '+' or '%' (the last word of a key or value read across its
// end, masked, unless b ends within it) and copied as one run.
func unescapeTo(dst []byte, w int, b []byte, i, to int) (int, error) {
	run := i
	for i < to {
		if i+8 <= len(b) {
			m := specials(binary.LittleEndian.Uint64(b[i:]))
			if n := to - i; n < 8 {
				m &= 1<<(8*n) - 1 // the bytes before to only
				if m == 0 {
					break
				}
			}
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		} else if c := b[i]; c != '+' && c != '%' {
			i++
			continue
		}
		w += copy(dst[w:], b[run:i])
		if b[i] == '+' {
			dst[w] = ' '
			i++
		} else {
			if i+2 >= to {
				return w, reason.New(reason.Malformed, "form: truncated percent-escape at byte %d", i)
			}
			hi, ok1 := unhex(b[i+1])
			lo, ok2 := unhex(b[i+2])
			if !ok1 || !ok2 {
				return w, reason.New(reason.Malformed, "form: invalid percent-escape at byte %d", i)
			}
			dst[w] = hi<<4 | lo
			i += 3
		}
		w++
		run = i
	}
	return w + copy(dst[w:], b[run:to]), nil
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

// find returns the index in wire order of key.
func (f *Form) find(key string) (int, bool) {
	if f.index != nil {
		i, ok := f.index[key]
		return i, ok
	}
	// A binary search by the operators, not slices.BinarySearchFunc: its
	// comparison is a call through a function value at every step, and
	// every notification looks up its few fixed keys here.
	lo, hi := 0, len(f.ends)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f.key(f.sortedIndex(m)) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(f.ends) && f.key(f.sortedIndex(lo)) == key {
		return f.sortedIndex(lo), true
	}
	return 0, false
}

// sortedIndex is the index in wire order of a parsed form's o-th key in
// byte order.
func (f *Form) sortedIndex(o int) int {
	if f.byOrder == nil {
		return o
	}
	return int(f.byOrder[o])
}

// Lookup returns the value of key and whether it is present.
func (f *Form) Lookup(key string) (string, bool) {
	i, ok := f.find(key)
	if !ok {
		return "", false
	}
	_, v := f.At(i)
	return v, true
}

// Value is Lookup's value, "" when absent.
func (f *Form) Value(key string) string {
	v, _ := f.Lookup(key)
	return v
}

// Has reports whether key is present (possibly with an empty value).
func (f *Form) Has(key string) bool {
	_, ok := f.find(key)
	return ok
}

// Len is the number of parameters.
func (f *Form) Len() int {
	if f.index != nil {
		return len(f.pairs)
	}
	return len(f.ends)
}

// Pairs returns the parameters in wire order, in a slice of the caller's
// (a parsed form makes it anew: Len and At read the pairs without one).
func (f *Form) Pairs() []Pair {
	if f.index != nil {
		return slices.Clone(f.pairs)
	}
	ps := make([]Pair, len(f.ends))
	for i := range ps {
		ps[i].Key, ps[i].Value = f.At(i)
	}
	return ps
}

// ValidUTF8 reports whether every key and value is valid UTF-8. A parsed
// form checks its decoded body once: its separators are ASCII, so the
// body is valid exactly when every key and value is.
func (f *Form) ValidUTF8() bool {
	if f.index == nil {
		return utf8.ValidString(f.all)
	}
	for _, p := range f.pairs {
		if !utf8.ValidString(p.Key) || !utf8.ValidString(p.Value) {
			return false
		}
	}
	return true
}

// AppendSigned appends the form's pairs to dst as k=v&k=v, keys in byte
// order, the decoded values as they are, leaving out the keys in skip:
// the string Alipay and UnionPay sign. A parsed form copies each run of
// pairs that arrived in byte order (usually all of them) as one slice of
// its decoded body.
func (f *Form) AppendSigned(dst []byte, skip ...string) []byte {
	if f.index != nil {
		return f.appendSignedByKey(dst, skip)
	}
	first := true
	runStart, runEnd, last := 0, 0, -2 // the run is of pairs up to index last
	for o := range f.ends {
		i := f.sortedIndex(o)
		if slices.Contains(skip, f.key(i)) {
			continue
		}
		if i != last+1 {
			dst = appendRun(dst, f.all[runStart:runEnd], &first)
			runStart = f.start(i)
		}
		runEnd, last = f.ends[i][1], i
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
	ks := make([]string, f.Len())
	if f.index == nil {
		for o := range ks {
			ks[o] = f.key(f.sortedIndex(o))
		}
		return ks
	}
	for i, p := range f.pairs {
		ks[i] = p.Key
	}
	sort.Strings(ks)
	return ks
}
