package provider

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// configSpec has one option of each kind the glue treats apart.
func configSpec() *Spec {
	parse := func(b []byte) error {
		if !strings.HasPrefix(string(b), "KEY") {
			return errors.New("not a key")
		}
		return nil
	}
	return &Spec{Name: "testpay", Options: []Option{
		{Name: "app_id", Kind: KindString},
		{Name: "key", Kind: KindSecret, Parse: parse},
		{Name: "mode", Kind: KindEnum, Values: []string{"a", "b"}},
		{Name: "certs", Kind: KindFiles, Parse: parse},
		{Name: "token", Kind: KindSecret, Query: true},
	}}
}

// The JSON shape: strings for single values, arrays for lists; a secret's
// _file twin is a string; unknown keys and wrong types are refused.
func TestDecodeEncodeJSON(t *testing.T) {
	s := configSpec()
	in := `{"app_id":"1","key_file":"/k","mode":"a","certs":["/c1","/c2"],"token":"{env.T}"}`
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(in), &raw); err != nil {
		t.Fatal(err)
	}
	v := Values{}
	for k, rv := range raw {
		if err := s.DecodeJSON(v, k, rv); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	want := Values{"app_id": {"1"}, "key_file": {"/k"}, "mode": {"a"}, "certs": {"/c1", "/c2"}, "token": {"{env.T}"}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded %v, want %v", v, want)
	}
	out, _ := json.Marshal(s.EncodeJSON(v))
	var back, orig any
	json.Unmarshal(out, &back)
	json.Unmarshal([]byte(in), &orig)
	if !reflect.DeepEqual(back, orig) {
		t.Errorf("encoded %s, want %s", out, in)
	}
	for _, c := range []struct{ key, raw, want string }{
		{"nope", `"x"`, `testpay: unknown option "nope" (valid: app_id, certs, key, key_file, mode, token, token_file)`},
		{"certs", `"one"`, "testpay: certs must be an array of strings"},
		{"app_id", `["1"]`, "testpay: app_id must be a string"},
	} {
		if err := s.DecodeJSON(Values{}, c.key, json.RawMessage(c.raw)); err == nil || err.Error() != c.want {
			t.Errorf("%s %s: %v, want %q", c.key, c.raw, err, c.want)
		}
	}
}

// The module's whole object: what the host takes (its own options beside
// the provider's) is not the provider's; the rest decodes as DecodeJSON.
func TestDecodeJSONObject(t *testing.T) {
	s := configSpec()
	var host []string
	take := func(key string, raw json.RawMessage) (bool, error) {
		if key == "bad" {
			return true, errors.New("bad is refused")
		}
		if key == "watch_token" {
			host = append(host, string(raw))
			return true, nil
		}
		return false, nil
	}
	v, err := s.DecodeJSONObject([]byte(`{"app_id":"1","certs":["/c"],"watch_token":"\"t\""}`), take)
	if err != nil || !reflect.DeepEqual(v, Values{"app_id": {"1"}, "certs": {"/c"}}) || !reflect.DeepEqual(host, []string{`"\"t\""`}) {
		t.Fatalf("decoded %v, host took %v, %v", v, host, err)
	}
	for in, want := range map[string]string{
		`{"bad":1}`:    "bad is refused",
		`{"nope":"x"}`: `testpay: unknown option "nope" (valid: app_id, certs, key, key_file, mode, token, token_file)`,
		`[]`:           "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
	} {
		if _, err := s.DecodeJSONObject([]byte(in), take); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", in, err, want)
		}
	}
}

// A Caddyfile argument is checked while adapting unless a placeholder
// makes it known only at provision; errors name the option as written and
// never quote a secret.
func TestCheckArg(t *testing.T) {
	s := configSpec()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("KEY1"), 0o600)
	os.WriteFile(bad, []byte("SECRET-BYTES"), 0o600)
	opt := func(name string) Option {
		o, _, _ := s.Option(name, false)
		return o
	}
	for _, c := range []struct{ spelled, arg, want string }{
		{"mode", "a", ""},
		{"mode", "{env.MODE}", ""},
		{"mode", "c", `mode must be a or b, not "c"`},
		{"key", "KEY2", ""},
		{"key", "SECRET-BYTES", "key: not a key"},
		{"key", "{env.KEY}", ""},
		{"key_file", good, ""},
		{"key_file", bad, "key_file: not a key"},
		{"key_file", filepath.Join(dir, "none"), "key_file: cannot read " + filepath.Join(dir, "none") + ": no such file or directory"},
		{"key_file", "{env.KEY_FILE}", ""},
		{"certs", good, ""},
		{"certs", bad, "certs: not a key"},
		{"app_id", "anything", ""},
	} {
		err := CheckArg(opt(strings.TrimSuffix(c.spelled, "_file")), c.spelled, c.arg)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s %s: %q, want %q", c.spelled, c.arg, got, c.want)
		}
	}
}

func TestUnknownOptionAndInlineSecrets(t *testing.T) {
	s := configSpec()
	if got, want := s.UnknownOption("x", false, []string{"max_body", "query"}).Error(),
		`payguard testpay: unknown option "x" (testpay options: app_id, key, key_file, mode, certs; common options: max_body, query)`; got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
	if got, want := s.UnknownOption("x", true, []string{"endpoint", "timeout"}).Error(),
		`payguard testpay: unknown query option "x" (valid: endpoint, timeout, token, token_file)`; got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
	v := Values{"key": {"KEY1"}, "token": {"{env.T}"}, "app_id": {"1"}}
	if got := s.InlineSecrets(v); !reflect.DeepEqual(got, []string{"key"}) {
		t.Errorf("inline secrets %v, want [key]", got)
	}
	if got := s.InlineSecrets(Values{"key_file": {"/k"}}); got != nil {
		t.Errorf("a secret file is not inline: %v", got)
	}
}
