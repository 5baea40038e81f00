package caddymodule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestAppStoreExampleCaddyfile checks that examples/appstore/Caddyfile
// adapts and provisions from the repository root, as its header says, and
// that a route without its environment does not.
func TestAppStoreExampleCaddyfile(t *testing.T) {
	t.Chdir("..")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	data, err := os.ReadFile(filepath.Join("examples", "appstore", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, want := range []string{
		`"name":"appstore"`, `"bundle_id":"com.example.shop"`, `"environment":"Production"`,
		`"environment":"Sandbox"`, `"private_key_file":"examples/keys/appstore_connect_key.p8"`,
		`"root_cert_file":["examples/keys/appstore_root_ca.pem"]`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted example lacks %s", want)
		}
	}
	example := string(data)
	if err := wxValidate(t, example); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	noEnv := strings.Replace(example, "environment Production\n", "\n", 1)
	if noEnv == example {
		t.Fatal("the example no longer has the environment line this test removes")
	}
	if err := wxValidate(t, noEnv); err == nil || !strings.Contains(err.Error(), "environment is required") {
		t.Fatalf("a route without environment: %v", err)
	}
}
