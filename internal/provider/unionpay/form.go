package unionpay

import (
	"sort"
	"strconv"

	"github.com/payguard/payguard/internal/reason"
)

// form is a strictly parsed list of key=value parameters: every key occurs
// once, and lookups do not depend on the wire order.
//
// UnionPay speaks two dialects of it. The backUrl notification is a form
// POST (application/x-www-form-urlencoded: '+' and %XX escapes), parsed by
// parseForm. The synchronous answer of queryTrans.do is the same k=v&...
// shape with raw, unescaped values (a PEM certificate with its newlines and
// '+', JSON-like {...} values), parsed by parseAnswer.
//
// The form-POST parser is the same rule set as internal/provider/alipay's
// ParseForm, kept as a minimal copy so that this package does not import
// another provider; moving both onto one shared parser is proposed in the
// branch's report.
type form struct {
	pairs []formPair
	index map[string]int
}

type formPair struct {
	key, val string
}

func newForm(n int) *form {
	return &form{pairs: make([]formPair, 0, n), index: make(map[string]int, n)}
}

// add appends a pair; a key seen before is malformed, never a second value.
func (f *form) add(key, val string) error {
	if _, dup := f.index[key]; dup {
		return reason.New(reason.Malformed, "parameter %s occurs twice", quoteKey(key))
	}
	f.index[key] = len(f.pairs)
	f.pairs = append(f.pairs, formPair{key: key, val: val})
	return nil
}

// parseForm parses b as application/x-www-form-urlencoded, strictly:
//   - segments are separated by '&' only (';' is an ordinary byte);
//   - every segment is key=value; a segment without '=', an empty segment
//     ("a=1&&b=2", a trailing '&') and an empty key are malformed;
//   - '+' is a space and %XX the byte 0xXX, in keys and values; a '%' not
//     followed by two hex digits is malformed;
//   - a key occurring twice (after decoding) is malformed;
//   - every other byte is taken literally.
//
// url.ParseQuery and http.Request.ParseForm are too forgiving for signed
// input: they keep the first of repeated keys and skip empty segments,
// which lets a second value slip past a verifier that reads another one.
// Errors are *reason.Error (malformed) naming a byte offset, never the input.
func parseForm(b []byte) (*form, error) {
	f := newForm(countByte(b, '&') + 1)
	if len(b) == 0 {
		return f, nil
	}
	buf := make([]byte, 0, len(b)) // decoding never grows a string
	start := 0
	for start <= len(b) {
		end := start
		for end < len(b) && b[end] != '&' {
			end++
		}
		seg := b[start:end]
		eq := indexByte(seg, '=')
		switch {
		case len(seg) == 0:
			return nil, reason.New(reason.Malformed, "form: empty parameter at byte %d", start)
		case eq < 0:
			return nil, reason.New(reason.Malformed, "form: parameter at byte %d has no '='", start)
		case eq == 0:
			return nil, reason.New(reason.Malformed, "form: empty key at byte %d", start)
		}
		var err error
		k0 := len(buf)
		if buf, err = appendUnescaped(buf, seg[:eq], start); err != nil {
			return nil, err
		}
		v0 := len(buf)
		if buf, err = appendUnescaped(buf, seg[eq+1:], start+eq+1); err != nil {
			return nil, err
		}
		if err := f.add(string(buf[k0:v0]), string(buf[v0:])); err != nil {
			return nil, err
		}
		start = end + 1
	}
	return f, nil
}

// parseAnswer parses queryTrans.do's synchronous answer: k=v&... with raw
// values, as the ACP SDK's parseQString reads it. A value that opens a '{'
// or '[' runs to the first matching '}' or ']' whatever '&' it holds (the
// SDK's rule, one level, no nesting count: UnionPay signs the values as the
// SDK splits them). Stricter than the SDK: an empty segment or key, a
// segment without '=', an unclosed '{' or '[', and a repeated key are
// malformed (the caller reports query_unavailable).
func parseAnswer(b []byte) (*form, error) {
	f := newForm(countByte(b, '&') + 1)
	i := 0
	for i <= len(b) {
		start := i
		for i < len(b) && b[i] != '=' && b[i] != '&' {
			i++
		}
		if i == len(b) || b[i] != '=' {
			return nil, reason.New(reason.Malformed, "answer: parameter at byte %d has no '='", start)
		}
		if i == start {
			return nil, reason.New(reason.Malformed, "answer: empty key at byte %d", start)
		}
		key := string(b[start:i])
		i++
		v0 := i
		var closer byte
		for ; i < len(b); i++ {
			c := b[i]
			if closer != 0 {
				if c == closer {
					closer = 0
				}
				continue
			}
			if c == '&' {
				break
			}
			switch c {
			case '{':
				closer = '}'
			case '[':
				closer = ']'
			}
		}
		if closer != 0 {
			return nil, reason.New(reason.Malformed, "answer: parameter %s has an unclosed %q", quoteKey(key), closer)
		}
		if err := f.add(key, string(b[v0:i])); err != nil {
			return nil, err
		}
		i++ // past '&'; past the end stops the loop
		if i == len(b) {
			return nil, reason.New(reason.Malformed, "answer: trailing '&'")
		}
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

func countByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// get returns the value of key and whether it is present.
func (f *form) get(key string) (string, bool) {
	i, ok := f.index[key]
	if !ok {
		return "", false
	}
	return f.pairs[i].val, true
}

// value is get without the presence flag: "" when absent.
func (f *form) value(key string) string {
	v, _ := f.get(key)
	return v
}

// signContent is what UnionPay signs (ACP SDK coverMap2String): every
// parameter but signature, empty values included, sorted by key in byte
// order, joined as k=v&k=v.
func (f *form) signContent() []byte {
	keys := make([]string, 0, len(f.pairs))
	size := 0
	for _, p := range f.pairs {
		if p.key == fieldSignature {
			continue
		}
		keys = append(keys, p.key)
		size += len(p.key) + len(p.val) + 2
	}
	sort.Strings(keys)
	b := make([]byte, 0, size)
	for i, k := range keys {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, f.pairs[f.index[k]].val...)
	}
	return b
}

// signContentOf is signContent for parameters the caller builds (query
// requests, the simulator's messages).
func signContentOf(params map[string]string) []byte {
	f := newForm(len(params))
	for k, v := range params {
		_ = f.add(k, v) // map keys are unique
	}
	return f.signContent()
}

// quoteKey renders an attacker-chosen key or value for an error detail:
// quoted and cut short, so a detail never carries a large part of the body.
func quoteKey(k string) string {
	const max = 40
	if len(k) > max {
		return strconv.Quote(k[:max]) + "..."
	}
	return strconv.Quote(k)
}
