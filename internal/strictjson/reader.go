package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
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
	s        string // the text, which unescaped keys and values slice
	i        int    // the next byte to read
	maxDepth int
	// discard reads without building: every rule is checked, no value
	// is made (Members).
	discard bool
	// collect has the members of the outermost object, with their
	// values' text, appended to members (Members).
	collect bool
	members []Member
	// path names a nested object whose members are appended to inner as
	// well (MembersAt): matched is how many of its keys lead to where the
	// reader is, found whether the object was read.
	path    []string
	matched int
	found   bool
	inner   []Member
	// keys and vals hold the members and elements of the containers
	// being read, innermost last; a container builds its map or slice,
	// of exactly its size, once it is closed.
	keys []string
	vals []any
}

func (r *reader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) syntax(at int) error {
	if at >= len(r.s) {
		return errEnd
	}
	return fmt.Errorf("json: syntax error at byte %d", at)
}

// value reads the value at r.i (whitespace skipped) inside depth
// containers.
func (r *reader) value(depth int) (any, error) {
	r.space()
	if r.i >= len(r.s) {
		return nil, errEnd
	}
	switch c := r.s[r.i]; c {
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
		if err != nil || r.discard {
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
		if r.i+k >= len(r.s) || r.s[r.i+k] != word[k] {
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
	if r.i < len(r.s) && r.s[r.i] == '}' {
		r.i++
		if r.discard {
			return nil, nil
		}
		return map[string]any{}, nil
	}
	for {
		r.space()
		if r.i >= len(r.s) {
			return nil, errEnd
		}
		if r.s[r.i] != '"' {
			return nil, fmt.Errorf("json: object key is not a string at byte %d", r.i)
		}
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		r.space()
		if r.i >= len(r.s) || r.s[r.i] != ':' {
			return nil, r.syntax(r.i)
		}
		r.i++
		r.space()
		start := r.i
		enter := r.enterPath(depth, k, start)
		v, err := r.value(depth)
		if err != nil {
			return nil, err
		}
		r.member(depth, k, start, enter)
		r.keys = append(r.keys, k)
		if !r.discard {
			r.vals = append(r.vals, v)
		}
		r.space()
		if r.i >= len(r.s) {
			return nil, errEnd
		}
		if c := r.s[r.i]; c == '}' {
			r.i++
			break
		} else if c != ',' {
			return nil, r.syntax(r.i)
		}
		r.i++
	}
	keys := r.keys[kbase:]
	if r.discard {
		if repeats(keys) {
			return nil, duplicate(keys)
		}
		r.keys = r.keys[:kbase]
		return nil, nil
	}
	vals := r.vals[vbase:]
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

// enterPath reports whether the value at start, member k of an object at
// depth, is the next object of MembersAt's path, and steps into it.
func (r *reader) enterPath(depth int, k string, start int) bool {
	enter := r.matched < len(r.path) && depth == r.matched+1 && k == r.path[r.matched] && start < len(r.s) && r.s[start] == '{'
	if enter {
		r.matched++
	}
	return enter
}

// member records member k, read from start to here, where Members and
// MembersAt collect it, and steps out of the path's object it entered.
func (r *reader) member(depth int, k string, start int, entered bool) {
	if entered {
		r.matched--
		r.found = r.found || r.matched == len(r.path)-1
	}
	if r.collect && depth == 1 {
		r.members = append(r.members, Member{Key: k, Raw: r.s[start:r.i]})
	}
	if r.path != nil && r.matched == len(r.path) && depth == len(r.path)+1 {
		r.inner = append(r.inner, Member{Key: k, Raw: r.s[start:r.i]})
	}
}

// repeats reports whether a key occurs twice in keys: by comparing every
// pair in a small object, by a set in a larger one.
func repeats(keys []string) bool {
	const small = 16
	if len(keys) <= small {
		for i, k := range keys {
			for _, l := range keys[:i] {
				if k == l {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		seen[k] = struct{}{}
	}
	return len(seen) != len(keys)
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
	if r.i < len(r.s) && r.s[r.i] == ']' {
		r.i++
		if r.discard {
			return nil, nil
		}
		return []any{}, nil
	}
	for {
		v, err := r.value(depth)
		if err != nil {
			return nil, err
		}
		if !r.discard {
			r.vals = append(r.vals, v)
		}
		r.space()
		if r.i >= len(r.s) {
			return nil, errEnd
		}
		if c := r.s[r.i]; c == ']' {
			r.i++
			break
		} else if c != ',' {
			return nil, r.syntax(r.i)
		}
		r.i++
	}
	if r.discard {
		return nil, nil
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
	if j < len(r.s) && r.s[j] == '-' {
		j++
	}
	switch {
	case j >= len(r.s):
		return nil, errEnd
	case r.s[j] == '0':
		j++
	case '1' <= r.s[j] && r.s[j] <= '9':
		j = r.digits(j)
	default:
		return nil, r.syntax(j)
	}
	if j < len(r.s) && r.s[j] == '.' {
		j++
		if j >= len(r.s) || !isDigit(r.s[j]) {
			return nil, r.syntax(j)
		}
		j = r.digits(j)
	}
	if j < len(r.s) && (r.s[j] == 'e' || r.s[j] == 'E') {
		j++
		if j < len(r.s) && (r.s[j] == '+' || r.s[j] == '-') {
			j++
		}
		if j >= len(r.s) || !isDigit(r.s[j]) {
			return nil, r.syntax(j)
		}
		j = r.digits(j)
	}
	r.i = j
	if r.discard {
		return nil, nil
	}
	return json.Number(r.s[start:j]), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (r *reader) digits(j int) int {
	for j < len(r.s) && isDigit(r.s[j]) {
		j++
	}
	return j
}

// str reads the string at r.i (its opening quote). Without escapes it is
// a slice of r.s and allocates nothing. Plain bytes are passed over eight
// at a time.
func (r *reader) str() (string, error) {
	start := r.i + 1
	for j := start; j < len(r.s); j++ {
		for j+8 <= len(r.s) {
			w := r.s[j : j+8] // one load: no bounds check within
			m := stringSpecials(uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
				uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56)
			if m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		if j == len(r.s) {
			break
		}
		switch c := r.s[j]; {
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

// stringSpecials has the high bit set of each byte of x that is '"', a
// backslash or a control byte, and of none below the first such
// (Hacker's Delight 6-1: a borrow can mark bytes above a match, never
// below), so its lowest set bit finds the first byte str must look at.
func stringSpecials(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((q-ones)&^q | (b-ones)&^b | (x-ones*0x20)&^x) & highs
}

// escaped finishes str for a string whose first escape is at j, decoding
// as encoding/json's unquote does.
func (r *reader) escaped(start, j int) (string, error) {
	buf := make([]byte, j-start, j-start+16)
	copy(buf, r.s[start:j])
	for j < len(r.s) {
		c := r.s[j]
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
		if j+1 >= len(r.s) {
			return "", errEnd
		}
		switch e := r.s[j+1]; e {
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
				if lo, at := r.hex4(j + 2); at < 0 && r.s[j] == '\\' && r.s[j+1] == 'u' {
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
		if k >= len(r.s) {
			return 0, k
		}
		c := r.s[k]
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
