package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

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

// unmarshalPolicy parses one `policy`. It is compiled here too, so
// `payguard validate` names the Caddyfile line as well as the policy file
// and CEL's position.
func (o *PolicyOptions) unmarshalPolicy(d *caddyfile.Dispenser) error {
	var arg string
	if !d.AllArgs(&arg) {
		return d.Err("payguard: policy takes one .cel file or one quoted expression (`notification.amount < 100`)")
	}
	pc := policy.ConfigOf(arg)
	if _, err := pc.Compile(); err != nil {
		return d.Errf("payguard: %v", err)
	}
	o.Policies = append(o.Policies, pc)
	return nil
}

// policyStages builds the pipeline's order and policy stages, once, at
// provision. {env.*} and {file.*} placeholders in order_lookup are
// resolved; {out_trade_no} is not Caddy's and stays for the lookup.
func (o *PolicyOptions) policyStages() ([]pipeline.Policy, pipeline.OrderLookup, error) {
	url := caddy.NewReplacer().ReplaceKnown(o.OrderLookup, "")
	return route.PolicyStages(o.Policies, url, time.Duration(o.OrderTimeout))
}
