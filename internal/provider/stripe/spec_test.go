package stripe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/provider"
)

func buildFrom(t *testing.T, v provider.Values, set provider.Settings) (provider.Built, []string, error) {
	t.Helper()
	var warnings []string
	set.Warn = func(m string) { warnings = append(warnings, m) }
	env, err := Spec.Resolve(v, nil, set)
	if err != nil {
		return provider.Built{}, nil, err
	}
	b, err := Spec.Build(env)
	return b, warnings, err
}

func TestRegistered(t *testing.T) {
	s, ok := provider.Lookup(Name)
	if !ok || s != Spec || s.Sandbox == nil {
		t.Fatalf("stripe not registered: %v %v", s, ok)
	}
	if o, file, ok := s.Option("api_key_file", true); !ok || !file || o.Name != "api_key" {
		t.Fatalf("api_key_file: %+v %v %v", o, file, ok)
	}
	if _, _, ok := s.Option("secret_file", false); !ok {
		t.Fatal("secret_file is not an option")
	}
}

func TestSpecBuild(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte(testOldSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(testAPIKey), 0o600); err != nil {
		t.Fatal(err)
	}
	b, warnings, err := buildFrom(t, provider.Values{
		"secret": {testSecret}, "secret_file": {file}, "api_key_file": {keyFile},
	}, provider.Settings{QueryEndpoint: "http://127.0.0.1:1/stripe"})
	if err != nil {
		t.Fatal(err)
	}
	p := b.Provider.(*Provider)
	for _, s := range []string{testSecret, testOldSecret} {
		if _, err := p.VerifyNotify(signedRequest(paidBody, s)); err != nil {
			t.Errorf("signed with %s: %v", s, err)
		}
	}
	q, ok := b.Querier.(*QueryClient)
	if !ok || q.Endpoint() != "http://127.0.0.1:1/stripe" {
		t.Fatalf("querier %#v", b.Querier)
	}
	if _, ok := b.Querier.(provider.OrderQuerier); !ok {
		t.Fatal("the querier does not look orders up (recovery)")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "test-mode") {
		t.Fatalf("warnings %q", warnings)
	}

	// Without api_key there is no querier.
	b, _, err = buildFrom(t, provider.Values{"secret": {testSecret}}, provider.Settings{})
	if err != nil || b.Querier != nil {
		t.Fatalf("%v %v", b.Querier, err)
	}
	// Plain http to another host is allowed (a proxy) but warned about.
	_, warnings, err = buildFrom(t, provider.Values{"secret": {testSecret}, "api_key": {"sk_live_x"}},
		provider.Settings{QueryEndpoint: "http://stripe-proxy.internal"})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "unencrypted") {
		t.Fatalf("%v %q", err, warnings)
	}
}

func TestSpecRefuses(t *testing.T) {
	dir := t.TempDir()
	nl := filepath.Join(dir, "nl")
	_ = os.WriteFile(nl, []byte(testSecret+"\n"), 0o600)
	many := make([]string, MaxSecrets+1)
	for i := range many {
		many[i] = testSecret
	}
	for name, v := range map[string]provider.Values{
		"no secret":           {},
		"only an api key":     {"api_key": {testAPIKey}},
		"api key as secret":   {"secret": {testAPIKey}},
		"secret as api key":   {"secret": {testSecret}, "api_key": {testSecret}},
		"newline in file":     {"secret_file": {nl}},
		"missing file":        {"secret_file": {filepath.Join(dir, "absent")}},
		"too many":            {"secret": many},
		"unknown option":      {"secret": {testSecret}, "webhook_id": {"x"}},
		"inline and file key": {"secret": {testSecret}, "api_key": {testAPIKey}, "api_key_file": {nl}},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := buildFrom(t, v, provider.Settings{})
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "test_secret") || strings.Contains(err.Error(), "51Hpayguard") {
				t.Fatalf("error quotes a secret: %v", err)
			}
		})
	}
	// The Caddyfile line is checked while adapting: the table's Parse and
	// Check run on the value without placeholders.
	if err := Spec.CheckTable(provider.Values{"secret": {"{env.STRIPE_SECRET}"}}); err != nil {
		t.Fatalf("a placeholder secret: %v", err)
	}
}

func TestSpecPlaceholders(t *testing.T) {
	env := map[string]string{"{env.OLD}": testOldSecret, "{env.NEW}": testSecret}
	repl := func(s string) (string, error) {
		if v, ok := env[s]; ok {
			return v, nil
		}
		return s, nil
	}
	e, err := Spec.Resolve(provider.Values{"secret": {"{env.NEW}", "{env.OLD}"}}, repl, provider.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Spec.Build(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Provider.VerifyNotify(signedRequest(paidBody, testOldSecret)); err != nil {
		t.Fatal(err)
	}
}
