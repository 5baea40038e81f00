package provider

import (
	"errors"
	"strings"
	"testing"
)

// Every option whose placeholder does not resolve is reported, each with
// its option's name, not only the first; the options that did resolve are
// cleared, not handed back.
func TestResolveReportsEveryMissingPlaceholder(t *testing.T) {
	s := &Spec{Name: "resolve_test", Build: func(*Env) (Built, error) { return Built{}, nil }, Options: []Option{
		{Name: "app_id", Kind: KindString},
		{Name: "api_key", Kind: KindSecret},
		{Name: "private_key", Kind: KindSecret, Query: true},
		{Name: "ids", Kind: KindList},
	}}
	unset := func(v string) (string, error) {
		if strings.HasPrefix(v, "{env.") {
			return "", errors.New("evaluated placeholder " + v + " is empty")
		}
		return v, nil
	}
	_, err := s.Resolve(Values{
		"app_id": {"{env.APP_ID}"}, "api_key": {"{env.API_KEY}"},
		"private_key": {"{env.PRIVATE_KEY}"}, "ids": {"a", "b"},
	}, unset, Settings{QueryEndpoint: "{env.ENDPOINT}"})
	if err == nil {
		t.Fatal("unset placeholders resolved")
	}
	for _, want := range []string{"query endpoint", "{env.ENDPOINT}", "app_id", "{env.APP_ID}", "api_key", "{env.API_KEY}", "private_key", "{env.PRIVATE_KEY}"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ids") {
		t.Errorf("a resolved option is reported:\n%v", err)
	}
	env, err := s.Resolve(Values{"app_id": {"x"}, "api_key": {"k"}}, unset, Settings{})
	if err != nil || env.String("app_id") != "x" || string(env.Bytes("api_key")) != "k" {
		t.Fatalf("resolvable values: %v", err)
	}
}

// BuildFrom hands Build the resolved options and the settings, and wipes
// the resolved secrets once Build has returned.
func TestBuildFromClearsSecrets(t *testing.T) {
	var seen []byte
	var got Settings
	s := &Spec{Name: "build_test", Options: []Option{{Name: "api_key", Kind: KindSecret, Required: true}},
		Build: func(e *Env) (Built, error) {
			seen = e.Bytes("api_key")
			got.Tolerance = e.Tolerance
			if string(seen) != "k-from-env" {
				return Built{}, errors.New("unresolved: " + string(seen))
			}
			return Built{}, nil
		}}
	repl := func(v string) (string, error) { return strings.ReplaceAll(v, "{env.K}", "k-from-env"), nil }
	if _, err := s.BuildFrom(Values{"api_key": {"{env.K}"}}, repl, Settings{Tolerance: 7}); err != nil {
		t.Fatal(err)
	}
	if got.Tolerance != 7 || strings.Trim(string(seen), "\x00") != "" {
		t.Errorf("tolerance %v, secret after the build %q", got.Tolerance, seen)
	}
	if _, err := s.BuildFrom(Values{}, repl, Settings{}); err == nil || err.Error() != "api_key (or api_key_file) is required" {
		t.Errorf("a missing option: %v", err)
	}
}
