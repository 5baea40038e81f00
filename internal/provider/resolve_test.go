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
