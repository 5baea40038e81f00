package caddymodule_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// The examples' headers say `payguard validate --config examples/...`
// from the repository root; these tests hold them to it. A provider's
// example is covered by adding the file; a row below is only for what one
// example must show beyond validating.

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

// inRepoRoot runs the test from the repository root, where the examples'
// relative key paths resolve. Validation sets up the tls app for the
// examples' site names: its storage stays out of the user's home.
func inRepoRoot(t *testing.T) {
	t.Chdir("..")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

func readExample(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(file))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// edit replaces old in an example, failing when the example changed so
// that old is gone (the test would otherwise check the unedited file).
func edit(t *testing.T, file, example, old, new string) string {
	t.Helper()
	out := strings.Replace(example, old, new, 1)
	if out == example {
		t.Fatalf("%s no longer has %q, which this test edits", file, old)
	}
	return out
}

// TestExampleCaddyfilesValidate: every Caddyfile under examples/ (named
// Caddyfile, or <setup>.Caddyfile where a directory holds several, as
// examples/generic does) adapts and provisions.
func TestExampleCaddyfilesValidate(t *testing.T) {
	inRepoRoot(t)
	var files []string
	err := filepath.WalkDir("examples", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == "Caddyfile" || strings.HasSuffix(d.Name(), ".Caddyfile")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no example Caddyfiles: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.ToSlash(f), func(t *testing.T) {
			if err := wxValidate(t, readExample(t, f)); err != nil {
				t.Fatalf("%s does not validate: %v", f, err)
			}
		})
	}
}

// TestExamplesAdaptAsWritten: the adapted JSON keeps what each example
// documents: option names mapped to their JSON keys, paths, generic's
// {secret} markers and CEL as written.
func TestExamplesAdaptAsWritten(t *testing.T) {
	t.Chdir("..")
	for file, wants := range map[string][]string{
		"examples/wechatpay/Caddyfile": {`"name":"wechatpay_v3"`, `"public_key_id":"PUB_KEY_ID_`,
			`"platform_cert_files":["examples/wechatpay/wechatpay_platform_cert.pem"]`,
			`"merchant_serial":`, `"name":"wechatpay_v2"`, `"sign_type":"HMAC-SHA256"`},
		"examples/paypal/Caddyfile": {`"name":"paypal"`, `"webhook_id":"8PT597110X687430LKGECATA"`, `"verify":"api"`, `"verify":"offline"`,
			`"client_secret_file":"examples/keys/paypal_client_secret"`, `"cert_file":"examples/keys/paypal_cert.pem"`},
		"examples/appstore/Caddyfile": {`"name":"appstore"`, `"bundle_id":"com.example.shop"`, `"environment":"Production"`,
			`"environment":"Sandbox"`, `"private_key_file":"examples/keys/appstore_connect_key.p8"`,
			`"root_cert_file":["examples/keys/appstore_root_ca.pem"]`},
		"examples/alipay/Caddyfile": {`"name":"alipay"`, `"seller_id":"2088000000000001"`, `"private_key_file":"examples/keys/alipay_app_private.pem"`,
			`"cert_file":"examples/alipay/alipay_cert_public_key_rsa2.crt"`, `"root_cert_file":"examples/alipay/alipay_root_cert.crt"`, `"mode":"return"`},
		"examples/pingpp/Caddyfile":                 {`"name":"pingpp"`, `"public_key_file":"examples/pingpp/pingpp_demo_public.pem"`, `"api_key_file":`},
		"examples/generic/pingpp_style.Caddyfile":   {`"name":"generic"`, `"partner_name":"charge_partner"`, `"message":["raw"]`},
		"examples/generic/beecloud_style.Caddyfile": {`"partner_name":"beecloud"`, `"transaction_fee","{secret}"]`, `"event_id":"body.transaction_id + \":\" + body.transaction_type"`},
		"examples/generic/points_partner.Caddyfile": {`"partner_name":"points_partner"`, `"key_suffix":"\u0026key={secret}"`, `"nonce":["field","nonce_str"]`},
	} {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(readExample(t, file)), nil)
		if err != nil {
			t.Fatalf("%s: adapt: %v", file, err)
		}
		for _, w := range wants {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: adapted JSON lacks %s", file, w)
			}
		}
	}
}

// TestExampleEditsRefused: an example with one of its lines broken does
// not validate, and says why. A generic scheme that could not protect is
// refused while adapting, at the directive's line.
func TestExampleEditsRefused(t *testing.T) {
	inRepoRoot(t)
	for _, c := range []struct {
		file, old, new, want string
		atLine               bool
	}{
		{"examples/appstore/Caddyfile", "environment Production\n", "\n", "environment is required", false},
		{"examples/alipay/Caddyfile", "root_cert_file examples/alipay/alipay_root_cert.crt", "", "certificate mode needs both cert_file and root_cert_file", true},
		{"examples/paypal/Caddyfile", "client_secret_file examples/keys/paypal_client_secret", "", "client_id and client_secret", false},
		{"examples/generic/points_partner.Caddyfile", "nonce       field nonce_str", "timestamp header X-Ts",
			"timestamp header X-Ts is not covered by the signature", true},
		{"examples/generic/points_partner.Caddyfile", "int(fields.total_fee)", "fields.total_fee", "amount must yield int", true},
	} {
		bad := edit(t, c.file, readExample(t, c.file), c.old, c.new)
		err := wxValidate(t, bad)
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.atLine && !strings.Contains(err.Error(), "Caddyfile:")) {
			t.Errorf("%s with %q for %q: %v, want %q", c.file, c.new, c.old, err, c.want)
		}
	}
}

// TestExampleSecretsFromEnvironment: a secret the example reads from a
// file can come from {env.*} instead, as the headers show: an unset
// variable is refused, a wrong value is refused without being quoted, and
// the right one validates.
func TestExampleSecretsFromEnvironment(t *testing.T) {
	inRepoRoot(t)
	const env = "PAYGUARD_TEST_EXAMPLE_SECRET"
	for _, c := range []struct {
		file, fileLine, option string
		good, bad, badWant     string
	}{
		{"examples/wechatpay/Caddyfile", "api_v3_key_file examples/keys/wechatpay_apiv3_key", "api_v3_key",
			readExample(t, "examples/keys/wechatpay_apiv3_key"), "s3cret-but-only-27-bytes-xx", "api_v3_key: must be 32 bytes"},
		{"examples/paypal/Caddyfile", "client_secret_file examples/keys/paypal_client_secret", "client_secret",
			"EJ1gY0-sandbox-secret", "", ""},
	} {
		withEnv := edit(t, c.file, readExample(t, c.file), c.fileLine, c.option+" {env."+env+"}")
		t.Setenv(env, "")
		if err := wxValidate(t, withEnv); err == nil || !strings.Contains(err.Error(), c.option+": evaluated placeholder {env."+env+"} is empty") {
			t.Errorf("%s, %s unset: %v", c.file, env, err)
		}
		if c.bad != "" {
			t.Setenv(env, c.bad)
			if err := wxValidate(t, withEnv); err == nil || !strings.Contains(err.Error(), c.badWant) || strings.Contains(err.Error(), c.bad) {
				t.Errorf("%s, a wrong %s: %v, want %q without the value", c.file, c.option, err, c.badWant)
			}
		}
		t.Setenv(env, c.good)
		if err := wxValidate(t, withEnv); err != nil {
			t.Errorf("%s, %s set: %v", c.file, env, err)
		}
	}
}

// adaptFile adapts a Caddyfile from the repository root to Caddy's JSON.
func adaptFile(t *testing.T, path string) map[string]any {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(readExample(t, path)), map[string]any{"filename": path})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// listenAddrs are every HTTP server's listen addresses.
func listenAddrs(cfg map[string]any) []string {
	var out []string
	servers, _ := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)
	for _, s := range servers {
		for _, l := range s.(map[string]any)["listen"].([]any) {
			out = append(out, l.(string))
		}
	}
	return out
}

// The fleet's two instances: one store and one audit stream, two admin
// endpoints and two listeners, so they run side by side on one host.
func TestFleetExampleSharesOneStore(t *testing.T) {
	t.Chdir("..")
	a := adaptFile(t, "examples/fleet/instance-a.Caddyfile")
	b := adaptFile(t, "examples/fleet/instance-b.Caddyfile")
	ja, _ := json.Marshal(a["apps"].(map[string]any)["payguard"])
	jb, _ := json.Marshal(b["apps"].(map[string]any)["payguard"])
	if string(ja) != string(jb) || !strings.Contains(string(ja), "redis://") {
		t.Fatalf("the instances' payguard apps differ or are not on Redis:\n%s\n%s", ja, jb)
	}
	if a["admin"].(map[string]any)["listen"] == b["admin"].(map[string]any)["listen"] {
		t.Fatal("both instances use one admin endpoint")
	}
	la, lb := listenAddrs(a), listenAddrs(b)
	if len(la) != 1 || len(lb) != 1 || la[0] == lb[0] || !strings.HasPrefix(la[0], "127.0.0.1:") || !strings.HasPrefix(lb[0], "127.0.0.1:") {
		t.Fatalf("listeners %v and %v: want one loopback address each, different", la, lb)
	}
}

// TestStdWebhooksMappingsAsWritten: a mapping reaches CEL as written: a
// map literal's braces are not read as Caddy placeholders, and a type
// error fails validation.
func TestStdWebhooksMappingsAsWritten(t *testing.T) {
	route := func(status string) string {
		return ":8089 {\n\tpayguard stdwebhooks {\n\t\tsecret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\t\tstatus `" + status + "`\n\t}\n\trespond ok\n}\n"
	}
	if err := wxValidate(t, route(`{"invoice.paid": "paid"}[body.type]`)); err != nil {
		t.Fatalf("a map literal: %v", err)
	}
	err := wxValidate(t, route(`size(headers)`))
	if err == nil || !strings.Contains(err.Error(), "status must yield string") {
		t.Fatalf("a mapping of the wrong type: %v", err)
	}
}
