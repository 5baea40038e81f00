package caddymodule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestGenericExamplesAdaptLiterally: the examples/generic setups (which
// TestExampleCaddyfilesValidate provisions) keep their {secret} markers
// and CEL as written in the adapted JSON, and pingpp's its key options.
func TestGenericExamplesAdaptLiterally(t *testing.T) {
	t.Chdir("..")
	for file, wants := range map[string][]string{
		"examples/pingpp/Caddyfile":                 {`"name":"pingpp"`, `"public_key_file":"examples/pingpp/pingpp_demo_public.pem"`, `"api_key_file":`},
		"examples/generic/pingpp_style.Caddyfile":   {`"name":"generic"`, `"partner_name":"charge_partner"`, `"message":["raw"]`},
		"examples/generic/beecloud_style.Caddyfile": {`"partner_name":"beecloud"`, `"transaction_fee","{secret}"]`, `"event_id":"body.transaction_id + \":\" + body.transaction_type"`},
		"examples/generic/points_partner.Caddyfile": {`"partner_name":"points_partner"`, `"key_suffix":"\u0026key={secret}"`, `"nonce":["field","nonce_str"]`},
	} {
		data, err := os.ReadFile(filepath.FromSlash(file))
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, nil)
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

// A generic scheme that could not protect is refused while adapting, at
// the directive's line: a header timestamp the signature does not cover,
// and a mapping of the wrong type.
func TestGenericRefusedWhileAdapting(t *testing.T) {
	t.Chdir("..")
	data, err := os.ReadFile(filepath.FromSlash("examples/generic/points_partner.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	for edit, want := range map[[2]string]string{
		{"nonce       field nonce_str", "timestamp header X-Ts"}: "timestamp header X-Ts is not covered by the signature",
		{"int(fields.total_fee)", "fields.total_fee"}:            "amount must yield int",
	} {
		bad := strings.Replace(string(data), edit[0], edit[1], 1)
		if bad == string(data) {
			t.Fatalf("the example no longer has %q", edit[0])
		}
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(bad), nil)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%s: %v, want %q with its line", edit[1], err, want)
		}
	}
}
