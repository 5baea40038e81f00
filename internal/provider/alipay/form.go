package alipay

import (
	"sort"
	"strconv"

	"github.com/payguard/payguard/internal/reason"
)

// Form is a strictly parsed application/x-www-form-urlencoded message.
//
// Values stay raw bytes: Alipay signs the bytes of the message's own charset
// (UTF-8 or GBK), so nothing may be transcoded before the signature holds.
// Every key occurs once; lookups do not depend on the wire order.
type Form struct {
	pairs []formPair
	index map[string]int
}

type formPair struct {
	key string
	val []byte
	str string // val as a string, sharing one allocation with every key and value
}

// ParseForm parses b as application/x-www-form-urlencoded, strictly.
//
// It exists because url.ParseQuery and http.Request.ParseForm are too
// forgiving for signed input: they keep the first of repeated keys, merge
// the URL query into the body, and skip empty segments, which lets an
// attacker smuggle a second value past a verifier that reads another one.
// Here:
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
// malformed; their detail names a byte offset, never the input.
//
// Every notification goes through here, so it allocates a fixed handful
// of times whatever the number of parameters: one buffer of decoded bytes,
// one string of it that every key and string value slices, the pairs and
// the index.
func ParseForm(b []byte) (*Form, error) {
	f := &Form{}
	if len(b) == 0 {
		return f, nil
	}
	n := 1
	for _, c := range b {
		if c == '&' {
			n++
		}
	}
	// One buffer holds every decoded key and value: decoding never grows
	// a string, so len(b) bytes always suffice.
	buf := make([]byte, 0, len(b))
	// bounds[i] = the ends of pair i's key and value in buf (each starts
	// where the previous one ends).
	bounds := make([][2]int, 0, n)
	start := 0
	for start <= len(b) {
		end := start
		for end < len(b) && b[end] != '&' {
			end++
		}
		seg := b[start:end]
		if len(seg) == 0 {
			return nil, reason.New(reason.Malformed, "form: empty parameter at byte %d", start)
		}
		eq := -1
		for i, c := range seg {
			if c == '=' {
				eq = i
				break
			}
		}
		if eq < 0 {
			return nil, reason.New(reason.Malformed, "form: parameter at byte %d has no '='", start)
		}
		if eq == 0 {
			return nil, reason.New(reason.Malformed, "form: empty key at byte %d", start)
		}
		var err error
		if buf, err = appendUnescaped(buf, seg[:eq], start); err != nil {
			return nil, err
		}
		kEnd := len(buf)
		if buf, err = appendUnescaped(buf, seg[eq+1:], start+eq+1); err != nil {
			return nil, err
		}
		bounds = append(bounds, [2]int{kEnd, len(buf)})
		start = end + 1
	}
	all := string(buf)
	f.pairs = make([]formPair, len(bounds))
	f.index = make(map[string]int, len(bounds))
	from := 0
	for i, bd := range bounds {
		key := all[from:bd[0]]
		if _, dup := f.index[key]; dup {
			return nil, reason.New(reason.Malformed, "form: parameter %s occurs twice", quoteKey(key))
		}
		f.index[key] = i
		// The full slice expression caps the value so no later append can
		// write into it.
		f.pairs[i] = formPair{key: key, val: buf[bd[0]:bd[1]:bd[1]], str: all[bd[0]:bd[1]]}
		from = bd[1]
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

// Get returns the raw (percent-decoded, not transcoded) value of key.
func (f *Form) Get(key string) ([]byte, bool) {
	i, ok := f.index[key]
	if !ok {
		return nil, false
	}
	return f.pairs[i].val, true
}

// Value is Get as a string, "" when absent.
func (f *Form) Value(key string) string {
	i, ok := f.index[key]
	if !ok {
		return ""
	}
	return f.pairs[i].str
}

// Has reports whether key is present (possibly with an empty value).
func (f *Form) Has(key string) bool {
	_, ok := f.index[key]
	return ok
}

// Len is the number of parameters.
func (f *Form) Len() int { return len(f.pairs) }

// Keys returns the keys sorted by byte order, the order Alipay signs in.
func (f *Form) Keys() []string {
	ks := make([]string, len(f.pairs))
	for i, p := range f.pairs {
		ks[i] = p.key
	}
	sort.Strings(ks)
	return ks
}

// quoteKey renders an attacker-chosen key for an error detail: quoted and
// cut short, so a detail never carries a large part of the body.
func quoteKey(k string) string {
	const max = 40
	if len(k) > max {
		return strconv.Quote(k[:max]) + "..."
	}
	return strconv.Quote(k)
}
