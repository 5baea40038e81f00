package caddymodule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestPayPalExampleCaddyfile checks that examples/paypal/Caddyfile adapts
// and provisions from the repository root, as its header says, with both
// verification modes, and that its secret can come from the environment.
func TestPayPalExampleCaddyfile(t *testing.T) {
	t.Chdir("..")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	data, err := os.ReadFile(filepath.Join("examples", "paypal", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, want := range []string{
		`"name":"paypal"`, `"webhook_id":"8PT597110X687430LKGECATA"`, `"verify":"api"`, `"verify":"offline"`,
		`"client_secret_file":"examples/keys/paypal_client_secret"`, `"cert_file":"examples/keys/paypal_cert.pem"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted example lacks %s", want)
		}
	}
	if err := wxValidate(t, string(data)); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}

	const env = "PAYGUARD_TEST_EXAMPLE_PAYPAL_SECRET"
	withEnv := strings.Replace(string(data), "client_secret_file examples/keys/paypal_client_secret", "client_secret {env."+env+"}", 1)
	if withEnv == string(data) {
		t.Fatal("the example no longer has the client_secret_file line this test replaces")
	}
	if err := wxValidate(t, withEnv); err == nil || !strings.Contains(err.Error(), "{env."+env+"} is empty") {
		t.Fatalf("unset variable: %v", err)
	}
	t.Setenv(env, "EJ1gY0-sandbox-secret")
	if err := wxValidate(t, withEnv); err != nil {
		t.Fatalf("with the variable set: %v", err)
	}
	// verify api without credentials is refused at the directive.
	noCreds := strings.Replace(string(data), "client_secret_file examples/keys/paypal_client_secret", "", 1)
	if err := wxValidate(t, noCreds); err == nil || !strings.Contains(err.Error(), "client_id and client_secret") {
		t.Fatalf("missing secret: %v", err)
	}
}
