package provider

import (
	"errors"
	"testing"
)

// A literal option keeps its braces: Caddy's replacer would refuse
// "{secret}" as an unknown placeholder, so Resolve must not hand it over.
func TestLiteralOptionsSkipTheReplacer(t *testing.T) {
	s := &Spec{Name: "literal_test", Build: func(*Env) (Built, error) { return Built{}, nil }, Options: []Option{
		{Name: "suffix", Kind: KindString, Literal: true},
		{Name: "message", Kind: KindList, Literal: true},
		{Name: "plain", Kind: KindString},
	}}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	refuse := func(v string) (string, error) {
		if v == "{secret}" || v == "&key={secret}" {
			return "", errors.New("unknown placeholder")
		}
		return "<" + v + ">", nil
	}
	env, err := s.Resolve(Values{"suffix": {"&key={secret}"}, "message": {"concat", "{secret}"}, "plain": {"x"}}, refuse, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if env.String("suffix") != "&key={secret}" || env.List("message")[1] != "{secret}" || env.String("plain") != "<x>" {
		t.Errorf("suffix %q message %q plain %q", env.String("suffix"), env.List("message"), env.String("plain"))
	}
	if !s.Options[2].HoldsPlaceholder("{env.X}") || s.Options[0].HoldsPlaceholder("{secret}") {
		t.Error("HoldsPlaceholder")
	}
	bad := &Spec{Name: "bad", Build: s.Build, Options: []Option{{Name: "k", Kind: KindSecret, Literal: true}}}
	if bad.validate() == nil {
		t.Error("a literal secret option passed validate")
	}
}
