package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// wxValidate adapts a Caddyfile and provisions it without serving, as
// `payguard validate` does.
func wxValidate(t *testing.T, caddyfile string) error {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// TestStdWebhooksExampleCaddyfile checks that examples/stdwebhooks/Caddyfile
// validates from the repository root, as its header says, and that a
// mapping reaches CEL as written: a map literal's braces are not read as
// Caddy placeholders, and a type error fails validation.
func TestStdWebhooksExampleCaddyfile(t *testing.T) {
	t.Chdir("..")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	data, err := os.ReadFile(filepath.Join("examples", "stdwebhooks", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := wxValidate(t, string(data)); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	route := func(status string) string {
		return ":8089 {\n\tpayguard stdwebhooks {\n\t\tsecret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\t\tstatus `" + status + "`\n\t}\n\trespond ok\n}\n"
	}
	if err := wxValidate(t, route(`{"invoice.paid": "paid"}[body.type]`)); err != nil {
		t.Fatalf("a map literal: %v", err)
	}
	err = wxValidate(t, route(`size(headers)`))
	if err == nil || !strings.Contains(err.Error(), "status must yield string") {
		t.Fatalf("a mapping of the wrong type: %v", err)
	}
}

// TestWeChatPayExampleCaddyfile checks that examples/wechatpay/Caddyfile
// adapts and provisions from the repository root, as its header says, and
// that its secrets can come from the environment instead.
func TestWeChatPayExampleCaddyfile(t *testing.T) {
	t.Chdir("..")
	// Validation sets up the tls app for the example's site name: keep its
	// storage out of the user's home.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	data, err := os.ReadFile(filepath.Join("examples", "wechatpay", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	example := string(data)
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, want := range []string{
		`"name":"wechatpay_v3"`, `"public_key_id":"PUB_KEY_ID_`, `"platform_cert_files":["examples/wechatpay/wechatpay_platform_cert.pem"]`,
		`"merchant_serial":`, `"name":"wechatpay_v2"`, `"sign_type":"HMAC-SHA256"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted example lacks %s", want)
		}
	}
	if err := wxValidate(t, example); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}

	// The same with the APIv3 key in the environment, as the header shows.
	const env = "PAYGUARD_TEST_EXAMPLE_APIV3_KEY"
	withEnv := strings.Replace(example, "api_v3_key_file examples/keys/wechatpay_apiv3_key", "api_v3_key {env."+env+"}", 1)
	if withEnv == example {
		t.Fatal("the example no longer has the api_v3_key_file line this test replaces")
	}
	err = wxValidate(t, withEnv)
	if err == nil || !strings.Contains(err.Error(), "api_v3_key: evaluated placeholder {env."+env+"} is empty") {
		t.Fatalf("unset variable: %v", err)
	}
	const wrong = "s3cret-but-only-27-bytes-xx"
	t.Setenv(env, wrong)
	if err = wxValidate(t, withEnv); err == nil || !strings.Contains(err.Error(), "api_v3_key: must be 32 bytes") || strings.Contains(err.Error(), wrong) {
		t.Fatalf("wrong key: %v", err)
	}
	key, err := os.ReadFile(filepath.Join("examples", "keys", "wechatpay_apiv3_key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(env, string(key))
	if err := wxValidate(t, withEnv); err != nil {
		t.Fatalf("with the variable set: %v", err)
	}
}

// TestWeChatPayBuildProvider: query credentials decide whether a querier
// is returned, placeholders resolve at provision, and no secret appears in
