package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/orderlookup"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/policy"
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
type PolicyConfig struct {
	File       string `json:"file,omitempty"`
	Expression string `json:"expression,omitempty"`
}

// compile compiles the policy under its name: the file's path, or the
// shortened expression.
func (pc PolicyConfig) compile() (*policy.Program, error) {
	switch {
	case pc.File != "" && pc.Expression != "":
		return nil, fmt.Errorf("policy: give a file or an expression, not both")
	case pc.File != "":
		return policy.CompileFile(pc.File)
	case pc.Expression != "":
		return policy.Compile(policy.InlineName(pc.Expression), pc.Expression)
	}
	return nil, fmt.Errorf("policy: neither a file nor an expression")
}

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
		pc := PolicyConfig{Expression: arg}
		if policy.IsFile(arg) {
			pc = PolicyConfig{File: arg}
		}
		if _, err := pc.compile(); err != nil {
			return d.Errf("payguard: %v", err)
		}
		o.Policies = append(o.Policies, pc)
	case "order_lookup":
		// A URL with other placeholders ({env.SHOP}) is checked whole at
		// provision, once they are resolved.
		err := orderlookup.CheckURL(arg)
		if strings.Contains(strings.ReplaceAll(arg, orderlookup.Placeholder, ""), "{") && strings.Contains(arg, orderlookup.Placeholder) {
			err = nil
		}
		if err != nil {
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
// provision.
func (o *PolicyOptions) policyStages() ([]pipeline.Policy, pipeline.OrderLookup, error) {
	var pols []pipeline.Policy
	for _, pc := range o.Policies {
		p, err := pc.compile()
		if err != nil {
			return nil, nil, err
		}
		pols = append(pols, p)
	}
	if o.OrderLookup == "" {
		if o.OrderTimeout != 0 {
			return nil, nil, fmt.Errorf("order_timeout without order_lookup")
		}
		return pols, nil, nil
	}
	// {env.*} and {file.*} placeholders are resolved; {out_trade_no} is
	// not Caddy's and stays for the lookup.
	url := caddy.NewReplacer().ReplaceKnown(o.OrderLookup, "")
	lookup, err := orderlookup.New(url, time.Duration(o.OrderTimeout))
	if err != nil {
		return nil, nil, err
	}
	return pols, lookup, nil
}
