package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

var errEnd = errors.New("json: unexpected end of input")

// reader reads one JSON text in a single pass, checking every rule as it
// goes and building the values directly: no scan before the parse, no
// second scan for keys and depth (what encoding/json's Decoder and the
// check after it cost on every signed body).
//
// It decodes exactly as encoding/json does into an any with UseNumber
// (that implementation, kept in the tests, is the fuzzing oracle): the
// same grammar, numbers as their literal text, and in strings the same
// unescaping, a \u escape of a lone surrogate becoming U+FFFD.
type reader struct {
	b        []byte
	s        string // b as one string, which unescaped keys and values slice
	i        int    // the next byte to read
	maxDepth int
	// keys and vals hold the members and elements of the containers
	// being read, innermost last; a container builds its map or slice,
	// of exactly its size, once it is closed.
	keys []string
	vals []any
}

func (r *reader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) syntax(at int) error {
	if at >= len(r.b) {
		return errEnd
	}
	return fmt.Errorf("json: syntax error at byte %d", at)
}

// value reads the value at r.i (whitespace skipped) inside depth
// containers.
func (r *reader) value(depth int) (any, error) {
	r.space()
	if r.i >= len(r.b) {
		return nil, errEnd
	}
	switch c := r.b[r.i]; c {
	case '{', '[':
		if depth >= r.maxDepth {
			return nil, fmt.Errorf("json: nested deeper than %d at byte %d", r.maxDepth, r.i+1)
		}
		if c == '{' {
			return r.object(depth + 1)
		}
		return r.array(depth + 1)
	case '"':
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		return s, nil
	case 't':
		return true, r.literal("true")
	case 'f':
		return false, r.literal("false")
	case 'n':
		return nil, r.literal("null")
	}
	return r.number()
}

func (r *reader) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if r.i+k >= len(r.b) || r.b[r.i+k] != word[k] {
			return r.syntax(r.i + k)
		}
	}
	r.i += len(word)
	return nil
}

func (r *reader) object(depth int) (any, error) {
	r.i++ // '{'
	kbase, vbase := len(r.keys), len(r.vals)
	r.space()
	if r.i < len(r.b) && r.b[r.i] == '}' {
		r.i++
		return map[string]any{}, nil
	}
	for {
		r.space()
		if r.i >= len(r.b) {
			return nil, errEnd
		}
		if r.b[r.i] != '"' {
			return nil, fmt.Errorf("json: object key is not a string at byte %d", r.i)
		}
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		r.space()
		if r.i >= len(r.b) || r.b[r.i] != ':' {
			return nil, r.syntax(r.i)
		}
		r.i++
		v, err := r.value(depth)
		if err != nil {
			return nil, err
		}
		r.keys, r.vals = append(r.keys, k), append(r.vals, v)
		r.space()
		if r.i >= len(r.b) {
			return nil, errEnd
		}
		if c := r.b[r.i]; c == '}' {
			r.i++
			break
		} else if c != ',' {
			return nil, r.syntax(r.i)
		}
		r.i++
	}
	keys, vals := r.keys[kbase:], r.vals[vbase:]
	m := make(map[string]any, len(keys))
	for j, k := range keys {
		m[k] = vals[j]
	}
	if len(m) != len(keys) {
		return nil, duplicate(keys)
	}
	clear(vals)
	r.keys, r.vals = r.keys[:kbase], r.vals[:vbase]
	return m, nil
}

// duplicate names the first key of keys that occurs twice: the map that
// found it holds fewer keys than were read.
func duplicate(keys []string) error {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return fmt.Errorf("json: key %s occurs twice in one object", Quote(k))
		}
		seen[k] = true
	}
	return errors.New("json: a key occurs twice in one object")
}

func (r *reader) array(depth int) (any, error) {
	r.i++ // '['
	base := len(r.vals)
	r.space()
	if r.i < len(r.b) && r.b[r.i] == ']' {
		r.i++
		return []any{}, nil
	}
	for {
		v, err := r.value(depth)
		if err != nil {
			return nil, err
		}
		r.vals = append(r.vals, v)
		r.space()
		if r.i >= len(r.b) {
			return nil, errEnd
		}
		if c := r.b[r.i]; c == ']' {
			r.i++
			break
		} else if c != ',' {
			return nil, r.syntax(r.i)
		}
		r.i++
	}
	a := make([]any, len(r.vals)-base)
	copy(a, r.vals[base:])
	clear(r.vals[base:])
	r.vals = r.vals[:base]
	return a, nil
}

// number reads RFC 8259's number as its literal text:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *reader) number() (any, error) {
	start, j := r.i, r.i
	if j < len(r.b) && r.b[j] == '-' {
		j++
	}
	switch {
	case j >= len(r.b):
		return nil, errEnd
	case r.b[j] == '0':
		j++
	case '1' <= r.b[j] && r.b[j] <= '9':
		j = r.digits(j)
	default:
		return nil, r.syntax(j)
	}
	if j < len(r.b) && r.b[j] == '.' {
		j++
		if j >= len(r.b) || !isDigit(r.b[j]) {
			return nil, r.syntax(j)
		}
		j = r.digits(j)
	}
	if j < len(r.b) && (r.b[j] == 'e' || r.b[j] == 'E') {
		j++
		if j < len(r.b) && (r.b[j] == '+' || r.b[j] == '-') {
			j++
		}
		if j >= len(r.b) || !isDigit(r.b[j]) {
			return nil, r.syntax(j)
		}
		j = r.digits(j)
	}
	r.i = j
	return json.Number(r.s[start:j]), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (r *reader) digits(j int) int {
	for j < len(r.b) && isDigit(r.b[j]) {
		j++
	}
	return j
}

// str reads the string at r.i (its opening quote). Without escapes it is
// a slice of r.s and allocates nothing.
func (r *reader) str() (string, error) {
	start := r.i + 1
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			return r.s[start:j], nil
		case c == '\\':
			return r.escaped(start, j)
		case c < 0x20:
			return "", r.syntax(j)
		}
	}
	return "", errEnd
}

// escaped finishes str for a string whose first escape is at j, decoding
// as encoding/json's unquote does.
func (r *reader) escaped(start, j int) (string, error) {
	buf := make([]byte, j-start, j-start+16)
	copy(buf, r.b[start:j])
	for j < len(r.b) {
		c := r.b[j]
		switch {
		case c == '"':
			r.i = j + 1
			return string(buf), nil
		case c < 0x20:
			return "", r.syntax(j)
		case c != '\\':
			buf = append(buf, c)
			j++
			continue
		}
		if j+1 >= len(r.b) {
			return "", errEnd
		}
		switch e := r.b[j+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			rr, at := r.hex4(j + 2)
			if at >= 0 {
				return "", r.syntax(at)
			}
			j += 6
			if utf16.IsSurrogate(rr) {
				// A pair only with the escape right after it; anything
				// else (a lone or reversed surrogate) is U+FFFD.
				if lo, at := r.hex4(j + 2); at < 0 && r.b[j] == '\\' && r.b[j+1] == 'u' {
					if dec := utf16.DecodeRune(rr, lo); dec != utf8.RuneError {
						buf = utf8.AppendRune(buf, dec)
						j += 6
						continue
					}
				}
				rr = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, rr)
			continue
		default:
			return "", r.syntax(j + 1)
		}
		j += 2
	}
	return "", errEnd
}

// hex4 reads four hex digits at j: the rune, and -1; or the offset of
// the first byte that is not one.
func (r *reader) hex4(j int) (rune, int) {
	var v rune
	for k := j; k < j+4; k++ {
		if k >= len(r.b) {
			return 0, k
		}
		c := r.b[k]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, k
		}
		v = v<<4 | rune(c)
	}
	return v, -1
}
