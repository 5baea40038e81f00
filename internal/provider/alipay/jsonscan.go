package alipay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// jsonMember is one member of a JSON object: its decoded key and the exact
// bytes of its value as they appear in the input.
type jsonMember struct {
	key string
	raw []byte
}

// scanObject validates b as one JSON object (surrounding whitespace allowed)
// and returns its top-level members in order, each value as a sub-slice of
// b. Alipay signs the response value's bytes as sent ("\/" escapes and key
// order included), so the value must be sliced, never re-marshalled, and a
// real scanner is needed to find its end: a string may contain braces and
// escaped quotes.
func scanObject(b []byte) ([]jsonMember, error) {
	s := &jsonScanner{b: b}
	s.ws()
	if !s.eat('{') {
		return nil, s.errorf("expected '{'")
	}
	members := make([]jsonMember, 0, 4) // a gateway answer has two or three
	s.ws()
	if !s.eat('}') {
		for {
			s.ws()
			ks := s.i
			if err := s.str(); err != nil {
				return nil, err
			}
			key, err := unquote(b[ks:s.i])
			if err != nil {
				return nil, s.errorf("bad key")
			}
			s.ws()
			if !s.eat(':') {
				return nil, s.errorf("expected ':'")
			}
			s.ws()
			vs := s.i
			if err := s.value(0); err != nil {
				return nil, err
			}
			members = append(members, jsonMember{key: key, raw: b[vs:s.i:s.i]})
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return nil, s.errorf("expected ',' or '}'")
		}
	}
	s.ws()
	if s.i != len(b) {
		return nil, s.errorf("data after the object")
	}
	return members, nil
}

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 128

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) errorf(msg string) error {
	return fmt.Errorf("json: %s at byte %d", msg, s.i)
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) value(depth int) error {
	if depth > maxJSONDepth {
		return s.errorf("nested too deeply")
	}
	if s.i >= len(s.b) {
		return s.errorf("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.ws()
		if s.eat('}') {
			return nil
		}
		for {
			s.ws()
			if err := s.str(); err != nil {
				return err
			}
			s.ws()
			if !s.eat(':') {
				return s.errorf("expected ':'")
			}
			s.ws()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				return nil
			}
			return s.errorf("expected ',' or '}'")
		}
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return nil
		}
		for {
			s.ws()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat(']') {
				return nil
			}
			return s.errorf("expected ',' or ']'")
		}
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.errorf("unexpected character")
}

func (s *jsonScanner) str() error {
	if !s.eat('"') {
		return s.errorf("expected string")
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return nil
		case c < 0x20:
			return s.errorf("control character in string")
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return s.errorf("unexpected end")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return s.errorf("unexpected end")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHexDigit(h) {
						return s.errorf("bad \\u escape")
					}
				}
				s.i += 6
			default:
				return s.errorf("bad escape")
			}
		default:
			s.i++
		}
	}
	return s.errorf("unterminated string")
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *jsonScanner) number() error {
	s.eat('-')
	if s.eat('0') {
		// no further integer digits after a leading zero
	} else if s.digits() == 0 {
		return s.errorf("bad number")
	}
	if s.eat('.') && s.digits() == 0 {
		return s.errorf("bad number")
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

func (s *jsonScanner) literal(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return s.errorf("bad literal")
	}
	s.i += len(w)
	return nil
}

var errNotString = errors.New("not a JSON string")

// jsonString decodes a raw JSON value that must be a string.
func jsonString(raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errNotString
	}
	s, err := unquote(raw)
	if err != nil {
		return "", errNotString
	}
	return s, nil
}

// unquote decodes raw, a JSON string the scanner has read, as
// json.Unmarshal does; without escapes and in valid UTF-8 (where
// encoding/json would change nothing) it is the bytes between the quotes.
func unquote(raw []byte) (string, error) {
	if len(raw) >= 2 {
		if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return string(in), nil
		}
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
