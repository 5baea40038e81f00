package caddymodule_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/payguard/payguard/caddymodule"
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
	if err = wxValidate(t, withEnv); err == nil || !strings.Contains(err.Error(), "api_v3_key must be 32 bytes") || strings.Contains(err.Error(), wrong) {
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
// an error.
func TestWeChatPayBuildProvider(t *testing.T) {
	wxKeysFor(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	qs := caddymodule.QuerySettings{Timeout: time.Second}
	f := func(name string) string { return filepath.Join(wxKeys.dir, name) }

	v3 := caddymodule.WeChatPayV3{
		MchID: "1900000001", APIv3KeyFile: f("apiv3_key"),
		PublicKeyID: wxKeys.pubKeyID, PublicKeyFile: f("platform_public.pem"),
	}
	p, q, err := v3.BuildProvider(ctx, qs)
	if err != nil || p == nil || p.Name() != "wechatpay_v3" || q != nil {
		t.Fatalf("v3 without query credentials: %v %v %v", p, q, err)
	}
	v3.PlatformCertFiles = []string{f("platform_cert.pem")}
	v3.MerchantSerial, v3.PrivateKeyFile = wxKeys.merchantSerial, f("merchant_private.pem")
	if p, q, err = v3.BuildProvider(ctx, qs); err != nil || q == nil {
		t.Fatalf("v3 with query credentials: %v %v %v", p, q, err)
	}

	v2 := caddymodule.WeChatPayV2{MchID: "1900000001", AppID: "wxd930ea5d5a258f4f", APIKeyFile: f("api_key"), SignType: "HMAC-SHA256"}
	if p, q, err = v2.BuildProvider(ctx, qs); err != nil || p.Name() != "wechatpay_v2" || q == nil {
		t.Fatalf("v2 queries by default: %v %v %v", p, q, err)
	}

	// Secrets through placeholders: resolved here, never echoed.
	const env = "PAYGUARD_TEST_WECHATPAY_SECRET"
	t.Setenv(env, "")
	v3 = caddymodule.WeChatPayV3{MchID: "1900000001", APIv3Key: "{env." + env + "}", PublicKeyID: wxKeys.pubKeyID, PublicKeyFile: f("platform_public.pem")}
	if _, _, err = v3.BuildProvider(ctx, qs); err == nil || !strings.Contains(err.Error(), "api_v3_key: evaluated placeholder {env."+env+"} is empty") {
		t.Fatalf("unset api_v3_key: %v", err)
	}
	v2 = caddymodule.WeChatPayV2{MchID: "1900000001", AppID: "wxd930ea5d5a258f4f", APIKey: "{env." + env + "}"}
	const secret = "this-secret-is-too-long-for-a-v2-api-key"
	t.Setenv(env, secret)
	for name, build := range map[string]func() error{
		"v3": func() error { _, _, err := v3.BuildProvider(ctx, qs); return err },
		"v2": func() error { _, _, err := v2.BuildProvider(ctx, qs); return err },
	} {
		if err := build(); err == nil || !strings.Contains(err.Error(), "must be 32 bytes") || strings.Contains(err.Error(), secret) {
			t.Errorf("%s wrong-length key: %v", name, err)
		}
	}
	t.Setenv(env, string(wxKeys.apiV3Key))
	if _, _, err = v3.BuildProvider(ctx, qs); err != nil {
		t.Fatalf("api_v3_key from the environment: %v", err)
	}
	// A key file with a placeholder path is read at provision too.
	t.Setenv(env, wxKeys.dir)
	v2 = caddymodule.WeChatPayV2{MchID: "1900000001", AppID: "wxd930ea5d5a258f4f", APIKeyFile: "{env." + env + "}/api_key"}
	if _, _, err = v2.BuildProvider(ctx, qs); err != nil {
		t.Fatalf("api_key_file through a placeholder: %v", err)
	}
	v2.APIKeyFile = "{env." + env + "}/missing"
	if _, _, err = v2.BuildProvider(ctx, qs); err == nil || !strings.Contains(err.Error(), "api_key_file: cannot read") {
		t.Fatalf("missing api_key_file: %v", err)
	}
	// A public key id that is not one, behind a placeholder, is caught at
	// provision by the provider.
	t.Setenv(env, "0114232019262025000000000000000001")
	v3 = caddymodule.WeChatPayV3{MchID: "1900000001", APIv3KeyFile: f("apiv3_key"), PublicKeyID: "{env." + env + "}", PublicKeyFile: f("platform_public.pem")}
	if _, _, err = v3.BuildProvider(ctx, qs); err == nil || !strings.Contains(err.Error(), "public_key_id must start with PUB_KEY_ID_") {
		t.Fatalf("bad public key id: %v", err)
	}
}

// TestWeChatPayQuerySwitch: `query on` without v3 credentials is refused
// at provision; `query off` switches off v2's default query (its effect on
// requests is in TestWeChatPayV2ValidForwardedOnce).
func TestWeChatPayQuerySwitch(t *testing.T) {
	wxKeysFor(t)
	f := func(name string) string { return filepath.Join(wxKeys.dir, name) }
	err := wxValidate(t, `http://127.0.0.1:0 {
	payguard wechatpay_v3 {
		mch_id 1900000001
		api_v3_key_file `+f("apiv3_key")+`
		platform_cert_file `+f("platform_cert.pem")+`
		query on
	}
}`)
	if err == nil || !strings.Contains(err.Error(), "query on, but no query credentials are configured") {
		t.Fatalf("query on without credentials: %v", err)
	}
	if err := wxValidate(t, `http://127.0.0.1:0 {
	payguard wechatpay_v2 {
		mch_id 1900000001
		app_id wxd930ea5d5a258f4f
		api_key_file `+f("api_key")+`
		query off
	}
}`); err != nil {
		t.Fatalf("v2 query off: %v", err)
	}
}
