package generic

import (
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// maxFields bounds the fields of a form or XML message: a payment notice
// has a few dozen.
const maxFields = 512

// parseForm parses an application/x-www-form-urlencoded body strictly,
// for the same reasons as the alipay package's parser (url.ParseQuery
// keeps the first of repeated keys and skips empty segments, which lets a
// second value slip past a verifier that reads the other one):
//   - segments are separated by '&' only; every segment is key=value; an
//     empty segment, a segment without '=' and an empty key are malformed;
//   - '+' is a space and %XX the byte 0xXX, in keys and values; a '%'
//     without two hex digits is malformed;
//   - a key occurring twice (after decoding) is malformed;
//   - every other byte is taken literally, and values stay bytes: no
//     charset is applied before the signature holds.
//
// An empty body is an empty form. Errors name an offset or a shortened
// key, never a value.
func parseForm(b []byte) ([]field, error) {
	var fields []field
	seen := map[string]bool{}
	for start := 0; start <= len(b) && len(b) > 0; {
		end := start
		for end < len(b) && b[end] != '&' {
			end++
		}
		seg := b[start:end]
		eq := -1
		for i, c := range seg {
			if c == '=' {
				eq = i
				break
			}
		}
		switch {
		case len(seg) == 0:
			return nil, reason.New(reason.Malformed, "form: empty parameter at byte %d", start)
		case eq < 0:
			return nil, reason.New(reason.Malformed, "form: parameter at byte %d has no '='", start)
		case eq == 0:
			return nil, reason.New(reason.Malformed, "form: empty key at byte %d", start)
		}
		key, err := formUnescape(seg[:eq], start)
		if err != nil {
			return nil, err
		}
		val, err := formUnescape(seg[eq+1:], start+eq+1)
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, reason.New(reason.Malformed, "form: parameter %s occurs twice", strictjson.Quote(key))
		}
		if len(fields) >= maxFields {
			return nil, reason.New(reason.Malformed, "form: more than %d parameters", maxFields)
		}
		seen[key] = true
		fields = append(fields, field{key: key, value: val})
		start = end + 1
	}
	return fields, nil
}

// formUnescape decodes one key or value; off is its offset in the body.
func formUnescape(s []byte, off int) (string, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", reason.New(reason.Malformed, "form: truncated percent-escape at byte %d", off+i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", reason.New(reason.Malformed, "form: invalid percent-escape at byte %d", off+i)
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
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
