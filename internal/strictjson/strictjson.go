// Package strictjson parses signed JSON bodies more strictly than
// encoding/json does on its own.
//
// encoding/json keeps the last of two members with the same key, replaces
// invalid UTF-8 with U+FFFD and, when decoding into a struct, matches keys
// case-insensitively: each is a way for payguard and the shop's own parser
// to read two different values out of one signed body. Decode refuses the
// first two and returns plain maps, so callers look fields up by their
// exact key.
//
// It is the one strict JSON reader of the providers (Stripe, WeChat Pay
// v3, App Store, Ping++, Standard Webhooks, generic): a fix here reaches
// every signed body and every query answer they parse.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// MaxDepth bounds nesting, so hostile input cannot exhaust the stack.
const MaxDepth = 64

// Decode parses b as exactly one JSON value (surrounding whitespace
// allowed). Objects become map[string]any, arrays []any, numbers
// json.Number (their literal text, no float rounding), and strings,
// booleans and null their Go values.
//
// It refuses invalid UTF-8 anywhere in b, a key occurring twice in one
// object (compared after unescaping, so "a" and "\u0061" are the same
// key), nesting deeper than MaxDepth, and anything after the value. Errors
// name a byte offset or a shortened key, never a value.
func Decode(b []byte) (any, error) { return decode(b, MaxDepth) }

func decode(b []byte, maxDepth int) (any, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("json: invalid UTF-8")
	}
	// Every signed JSON body is parsed here: on input that passes every
	// rule, encoding/json's own Decode builds the same values several
	// times faster than a walk over its tokens. Its Decode validates the
	// value it reads (no json.Valid pass before it); only whitespace may
	// follow, and then b is valid JSON, which keysUniqueAndShallow needs.
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err == nil && onlySpace(b[d.InputOffset():]) && keysUniqueAndShallow(b, maxDepth) {
		return v, nil
	}
	// The token walk finds and names the first problem.
	return decodeTokens(b, maxDepth)
}

// onlySpace reports whether b is JSON whitespace alone.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// decodeTokens is Decode by a walk over encoding/json's tokens, checking
// every rule as it goes (UTF-8 is checked by the caller).
func decodeTokens(b []byte, maxDepth int) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	p := parser{d: d, maxDepth: maxDepth}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("json: data after the value at byte %d", d.InputOffset())
	}
	return v, nil
}

// DecodeObject is Decode for a body that must be one JSON object.
func DecodeObject(b []byte) (map[string]any, error) { return DecodeObjectDepth(b, MaxDepth) }

// DecodeObjectDepth is DecodeObject with nesting bounded by maxDepth
// (at most MaxDepth) instead.
func DecodeObjectDepth(b []byte, maxDepth int) (map[string]any, error) {
	v, err := decode(b, min(maxDepth, MaxDepth))
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("json: the body is not an object")
	}
	return m, nil
}

// keysUniqueAndShallow reports whether b, valid JSON, has no key twice in
// one object (compared after unescaping) and no container nested deeper
// than maxDepth: the rules encoding/json does not check itself.
func keysUniqueAndShallow(b []byte, maxDepth int) bool {
	type frame struct {
		object bool
		first  int                 // where this object's keys start in keys
		set    map[string]struct{} // past smallObject keys, instead of a scan
	}
	const smallObject = 16
	var (
		stack     []frame
		keys      [][]byte // slices of b, or the unescaped copy of an escaped key
		expectKey bool
	)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if len(stack) >= maxDepth {
				return false
			}
			stack = append(stack, frame{object: b[i] == '{', first: len(keys)})
			expectKey = b[i] == '{'
		case '}', ']':
			top := stack[len(stack)-1]
			stack, keys = stack[:len(stack)-1], keys[:top.first]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			j := i + 1
			escaped := false
			for ; b[j] != '"'; j++ {
				if b[j] == '\\' {
					escaped = true
					j++
				}
			}
			if expectKey {
				key := b[i+1 : j]
				if escaped {
					var k string
					if json.Unmarshal(b[i:j+1], &k) != nil {
						return false
					}
					key = []byte(k)
				}
				top := &stack[len(stack)-1]
				if !addKey(top.first, &top.set, &keys, key, smallObject) {
					return false
				}
				expectKey = false
			}
			i = j
		}
	}
	return true
}

// addKey adds key to the object whose keys start at keys[first], false
// when it is there already. Small objects are scanned; a large one gets a
// set, so a hostile body with thousands of keys costs linear time.
func addKey(first int, set *map[string]struct{}, keys *[][]byte, key []byte, small int) bool {
	if *set != nil {
		if _, dup := (*set)[string(key)]; dup {
			return false
		}
		(*set)[string(key)] = struct{}{}
		return true
	}
	own := (*keys)[first:]
	for _, k := range own {
		if bytes.Equal(k, key) {
			return false
		}
	}
	*keys = append(*keys, key)
	if len(own)+1 > small {
		*set = make(map[string]struct{}, 2*small)
		for _, k := range (*keys)[first:] {
			(*set)[string(k)] = struct{}{}
		}
	}
	return true
}

type parser struct {
	d        *json.Decoder
	maxDepth int
}

func (p *parser) value(depth int) (any, error) {
	tok, err := p.d.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= p.maxDepth {
		return nil, fmt.Errorf("json: nested deeper than %d at byte %d", p.maxDepth, p.d.InputOffset())
	}
	switch d {
	case '{':
		return p.object(depth + 1)
	case '[':
		return p.array(depth + 1)
	}
	// The decoder reports a stray '}' or ']' as a syntax error itself;
	// this is a guard, not a reachable path.
	return nil, fmt.Errorf("json: unexpected %q at byte %d", rune(d), p.d.InputOffset())
}

func (p *parser) object(depth int) (map[string]any, error) {
	m := map[string]any{}
	for p.d.More() {
		tok, err := p.d.Token()
		if err != nil {
			return nil, p.syntax(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("json: object key is not a string at byte %d", p.d.InputOffset())
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("json: key %s occurs twice in one object", Quote(key))
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if _, err := p.d.Token(); err != nil { // the closing '}'
		return nil, p.syntax(err)
	}
	return m, nil
}

func (p *parser) array(depth int) ([]any, error) {
	a := []any{}
	for p.d.More() {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if _, err := p.d.Token(); err != nil { // the closing ']'
		return nil, p.syntax(err)
	}
	return a, nil
}

// syntax rewrites a decoder error without the input it quotes.
func (p *parser) syntax(err error) error {
	if err == io.EOF {
		return errors.New("json: unexpected end of input")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("json: syntax error at byte %d", se.Offset)
	}
	return fmt.Errorf("json: unreadable at byte %d", p.d.InputOffset())
}

// Quote renders an untrusted key for an error: quoted and cut short.
func Quote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// Int reads a JSON number that is a plain non-negative integer, as
// providers write amounts in minor units and unix seconds: no sign,
// fraction, exponent or leading zero, and within int64.
func Int(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	s := string(n)
	if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}
