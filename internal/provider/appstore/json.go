package appstore

import (
	"encoding/json"
	"fmt"
)

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
