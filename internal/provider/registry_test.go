package provider

import (
	"context"
	"errors"
	"testing"

	"github.com/payguard/payguard/internal/notification"
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

type selfQuerier struct{ Provider }

func (selfQuerier) QueryOrder(context.Context, *notification.Notification) (*QueryResult, error) {
	return nil, nil
}

// SelfQuerying sets the Querier only when the query is configured: a nil
// Querier is what skips the query stage.
func TestSelfQuerying(t *testing.T) {
	p := selfQuerier{}
	if b := SelfQuerying(p, false); b.Provider == nil || b.Querier != nil {
		t.Errorf("not configured: %+v", b)
	}
	if b := SelfQuerying(p, true); b.Querier == nil {
		t.Errorf("configured: %+v", b)
	}
}
