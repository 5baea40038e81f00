package caddymodule_test

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// Recovery is offered only where the provider's query answers by order
// number, and a watch route needs its token (DESIGN.md section 11).
func TestRecoveryConfigurationErrors(t *testing.T) {
	for _, c := range []struct{ block, want string }{
		{"payguard pingpp {\n\tpublic_key {env.PINGPP_KEY}\n\trecover {\n\t\tschedule 1m\n\t}\n}", "query by order number"},
		{"payguard stdwebhooks {\n\tmode watch\n\twatch_token 0123456789abcdef0\n}", "query by order number"},
		{"payguard alipay {\n\tmode watch\n\tapp_id 2021000000000001\n}", "watch_token"},
		{"payguard alipay {\n\tapp_id 2021000000000001\n\twatch_token 0123456789abcdef0\n}", "mode watch route"},
		{"payguard alipay {\n\tmode watch\n\twatch_token 0123456789abcdef0\n\trecover\n}", "notify route"},
		{"payguard alipay {\n\tapp_id 2021000000000001\n\tpublic_key {env.K}\n\trecover {\n\t\tschedule 5m 1m\n\t}\n}", "ascending"},
		{"payguard alipay {\n\tmode watch\n\twatch_token t\n\trecover {\n\t\tbogus 1\n\t}\n}", "unknown recover option"},
		// Repeated, as in every other block (once an offset list appended to
		// the first and a second deliver_to replaced it).
		{"payguard alipay {\n\tapp_id 2021000000000001\n\tpublic_key {env.K}\n\trecover {\n\t\tschedule 1m\n\t\tschedule 5m\n\t}\n}", "payguard: recover.schedule given twice, at Caddyfile:7"},
		{"payguard alipay {\n\tapp_id 2021000000000001\n\tpublic_key {env.K}\n\trecover {\n\t\tdeliver_to http://a\n\t\tdeliver_to http://b\n\t}\n}", "payguard: recover.deliver_to given twice, at Caddyfile:7"},
	} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n"+c.block+"\n}\n"), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n→ %v; want an error naming %q", c.block, err, c.want)
		}
	}
	// A watch route needs no keys, and alipay's own mode still reaches alipay.
	for _, ok := range []string{
		"payguard alipay {\n\tmode watch\n\tapp_id 2021000000000001\n\twatch_token {env.TOKEN}\n}",
		"payguard wechatpay_v3 {\n\tmode watch\n\tmch_id 1900000001\n\twatch_token_file /run/secrets/watch\n}",
	} {
		if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n"+ok+"\n}\n"), nil); err != nil {
			t.Errorf("%s\n→ %v", ok, err)
		}
	}
}
