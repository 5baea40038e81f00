package stripe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxJSONDepth bounds nesting. Stripe's snapshots nest a handful of levels
// (event, data, object, a list, its items, their details); the bound keeps
// the recursive decoder cheap on hostile input.
const maxJSONDepth = 48

// decodeStrictObject decodes one JSON object into map[string]any with
// numbers as json.Number (ids and amounts stay exact). Unlike
// encoding/json's Unmarshal it refuses a key repeated in any object: which
// copy counts is a guess, and the shop's parser may guess differently from
// ours about a body both take as signed. Keys match exactly (Unmarshal
// into a struct folds case), and nothing may follow the object.
func decodeStrictObject(b []byte) (map[string]any, error) {
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
		return nil, errors.New("data after the JSON object")
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
			return nil, fmt.Errorf("duplicate JSON key %s", quote(key))
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
		a := []any{}
		for d.More() {
			v, err := readValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if tok, err := d.Token(); err != nil || tok != json.Delim(']') {
			return nil, errors.New("invalid JSON array")
		}
		return a, nil
	}
	if _, ok := tok.(json.Delim); ok {
		return nil, errors.New("invalid JSON")
	}
	return tok, nil // string, json.Number, bool or nil
}

// str reads m[key] as a string; absent and null are "". Another type is
// an error.
func str(m map[string]any, key string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", fmt.Errorf("%s is not a string", key)
}

// obj reads m[key] as an object; absent and null are nil.
func obj(m map[string]any, key string) (map[string]any, error) {
	switch v := m[key].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	}
	return nil, fmt.Errorf("%s is not an object", key)
}

// boolean reads m[key] as a bool; absent and null are false.
func boolean(m map[string]any, key string) (bool, error) {
	switch v := m[key].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	}
	return false, fmt.Errorf("%s is not a boolean", key)
}

// maxIntDigits keeps a count in int64 with room for a currency conversion.
const maxIntDigits = 16

// count reads m[key] as a non-negative JSON integer (Stripe's amounts and
// Unix times). Absent and null are (0, false). "1.0", "1e2", "-1", a
// leading zero or a string are errors: Stripe writes plain integers.
func count(m map[string]any, key string) (int64, bool, error) {
	v, present := m[key]
	if !present || v == nil {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, true, fmt.Errorf("%s is not a number", key)
	}
	s := string(n)
	if s == "" || len(s) > maxIntDigits || (len(s) > 1 && s[0] == '0') {
		return 0, true, fmt.Errorf("%s is not a non-negative integer", key)
	}
	var x int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, true, fmt.Errorf("%s is not a non-negative integer", key)
		}
		x = x*10 + int64(c-'0')
	}
	return x, true, nil
}
