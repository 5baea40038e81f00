package stdwebhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxDepth bounds the nesting of a body: hostile input cannot exhaust the
// stack, and no sender nests payment data deeper.
const maxDepth = 64

// decodeBody parses a notification body: one JSON object, numbers kept as
// json.Number (an integral one is an int in CEL, so amounts never pass
// through float64). A key repeated in one object is refused: the shop's
// JSON library may keep the other copy than ours, and a mapping must read
// the value the shop reads (DESIGN.md section 2, step 3: duplicates are
// rejected, never guessed).
func decodeBody(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, errors.New("body is not JSON")
	}
	if tok != json.Delim('{') {
		return nil, errors.New("body is not a JSON object")
	}
	obj, err := decodeObject(d, 1)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return obj, nil
}

// decodeObject reads the members of an object whose '{' was just read.
func decodeObject(d *json.Decoder, depth int) (map[string]any, error) {
	obj := map[string]any{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, errors.New("body is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("body is not valid JSON")
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("key %q appears twice in one object", clip(key))
		}
		v, err := decodeValue(d, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	if _, err := d.Token(); err != nil { // the closing '}'
		return nil, errors.New("body is not valid JSON")
	}
	return obj, nil
}

func decodeValue(d *json.Decoder, depth int) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, errors.New("body is not valid JSON")
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= maxDepth {
		return nil, fmt.Errorf("body nests deeper than %d levels", maxDepth)
	}
	switch delim {
	case '{':
		return decodeObject(d, depth+1)
	case '[':
		arr := []any{}
		for d.More() {
			v, err := decodeValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := d.Token(); err != nil { // the closing ']'
			return nil, errors.New("body is not valid JSON")
		}
		return arr, nil
	}
	return nil, errors.New("body is not valid JSON")
}

// clip shortens untrusted text for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
