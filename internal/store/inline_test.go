package store

import "testing"

func TestHasInlinePassword(t *testing.T) {
	for raw, want := range map[string]bool{
		"":                                    false,
		"redis://127.0.0.1:6379/0":            false,
		"redis://:hunter2@127.0.0.1:6379/0":   true,
		"rediss://user:hunter2@cache:6380":    true,
		"redis://user@cache:6379":             false, // a user, no password
		"redis://:{env.REDIS_PASSWORD}@cache": false,
		"{env.REDIS_URL}":                     false,
		"redis://:p@%zz":                      false, // not a URL: nothing to warn about
	} {
		if got := HasInlinePassword(raw); got != want {
			t.Errorf("%q: %v, want %v", raw, got, want)
		}
	}
}
