package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/orderlookup"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/route"
)

// PolicyOptions are the handler's policy and order-record options
// (DESIGN.md sections 3, 5 and 7). They are embedded in Handler, so their
// JSON keys sit with the handler's own.
type PolicyOptions struct {
	// Policies must all hold for a notification to reach the shop.
	Policies []PolicyConfig `json:"policies,omitempty"`
	// OrderLookup is the shop's order-record URL, with {out_trade_no}.
	OrderLookup string `json:"order_lookup,omitempty"`
	// OrderTimeout bounds the order lookup; default 3s.
	OrderTimeout caddy.Duration `json:"order_timeout,omitempty"`
}

// PolicyConfig is one policy: a .cel file, or an inline expression.
type PolicyConfig = policy.Config

// unmarshalPolicyOption parses `policy`, `order_lookup` and
// `order_timeout`. A policy is compiled here too, so `payguard validate`
// names the Caddyfile line as well as the policy file and CEL's position.
func (o *PolicyOptions) unmarshalPolicyOption(d *caddyfile.Dispenser, opt string) error {
	var arg string
	if !d.AllArgs(&arg) {
		if opt == "policy" {
			return d.Err("payguard: policy takes one .cel file or one quoted expression (`notification.amount < 100`)")
		}
		return d.ArgErr()
	}
	switch opt {
	case "policy":
		pc := policy.ConfigOf(arg)
		if _, err := pc.Compile(); err != nil {
			return d.Errf("payguard: %v", err)
		}
		o.Policies = append(o.Policies, pc)
	case "order_lookup":
		if err := orderlookup.CheckConfigured(arg); err != nil {
			return d.Errf("payguard: %v", err)
		}
		o.OrderLookup = arg
	case "order_timeout":
		dur, err := caddy.ParseDuration(arg)
		if err != nil || dur <= 0 {
			return d.Errf("payguard: order_timeout %q is not a positive duration", arg)
		}
		o.OrderTimeout = caddy.Duration(dur)
	}
	return nil
}

// policyStages builds the pipeline's order and policy stages, once, at
// provision. {env.*} and {file.*} placeholders in order_lookup are
// resolved; {out_trade_no} is not Caddy's and stays for the lookup.
func (o *PolicyOptions) policyStages() ([]pipeline.Policy, pipeline.OrderLookup, error) {
	url := caddy.NewReplacer().ReplaceKnown(o.OrderLookup, "")
	return route.PolicyStages(o.Policies, url, time.Duration(o.OrderTimeout))
}
