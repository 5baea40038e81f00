package provider

import (
	"errors"
	"testing"
)

// ParseCheck passes the parser's error through and drops its value.
func TestParseCheck(t *testing.T) {
	errBad := errors.New("not a key")
	check := ParseCheck(func(b []byte) (*int, error) {
		if string(b) != "ok" {
			return nil, errBad
		}
		n := len(b)
		return &n, nil
	})
	if err := check([]byte("ok")); err != nil {
		t.Errorf("ok: %v", err)
	}
	if err := check([]byte("bad")); !errors.Is(err, errBad) {
		t.Errorf("bad: %v, want the parser's error", err)
	}
}
