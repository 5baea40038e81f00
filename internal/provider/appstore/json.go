package appstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxJSONDepth bounds nesting: Apple's payloads are three levels deep, and
// a hostile body must not drive the decoder's recursion.
const maxJSONDepth = 32

var errTrailing = errors.New("data after the JSON object")

// decodeObject parses b as exactly one JSON object, strictly: a key given
// twice at any depth, trailing data, or nesting deeper than maxJSONDepth is
// an error. Two parsers that disagree on which of two keys wins (Go's
// last, many others' first) must never see the same body, so a duplicate
// is refused instead of resolved. Numbers stay json.Number, so a price or
// a millisecond time is read exactly.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, errors.New("not JSON")
	}
	if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m, err := readObject(d, 1)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return m, nil
}

func readObject(d *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	m := map[string]any{}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, errors.New("invalid JSON")
		}
		if tok == json.Delim('}') {
			return m, nil
		}
		key, ok := tok.(string)
		if !ok { // the decoder's own state machine makes this unreachable
			return nil, errors.New("invalid JSON object key")
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("JSON key %s given twice", clip(key))
		}
		v, err := readValue(d, depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
}

func readValue(d *json.Decoder, depth int) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, errors.New("invalid JSON")
	}
	switch tok {
	case json.Delim('{'):
		return readObject(d, depth+1)
	case json.Delim('['):
		if depth+1 > maxJSONDepth {
			return nil, errors.New("JSON nested too deeply")
		}
		list := []any{}
		for d.More() {
			v, err := readValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		if _, err := d.Token(); err != nil {
			return nil, errors.New("invalid JSON")
		}
		return list, nil
	}
	return tok, nil
}

// stringField reads an optional string member; a member of another type
// is an error, never coerced.
func stringField(m map[string]any, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, fmt.Errorf("%s is not a string", key)
	}
	return s, true, nil
}

// intField reads an optional integer member exactly ("990", never "990.0"
// or "9.9e2").
func intField(m map[string]any, key string) (int64, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false, fmt.Errorf("%s is not a number", key)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, false, fmt.Errorf("%s is not an integer", key)
	}
	return i, true, nil
}

// objectField reads an optional object member.
func objectField(m map[string]any, key string) (map[string]any, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, false, fmt.Errorf("%s is not an object", key)
	}
	return o, true, nil
}

// clip shortens untrusted text for an error message and keeps it printable.
func clip(s string) string {
	const max = 40
	b := make([]byte, 0, max+3)
	for i := 0; i < len(s) && len(b) < max; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	if len(s) > max {
		b = append(b, "..."...)
	}
	return string(b)
}
