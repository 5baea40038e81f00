package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/payguard/payguard/internal/policy"
)

// PolicyOptions are the handler's policy and order-record options
// (DESIGN.md sections 3, 5 and 7). They are embedded in Handler, so their
// JSON keys sit with the handler's own. The Caddyfile's `policy` is
// caddyfileopts.Policy; route.Config.Pipeline compiles them and builds the
// order lookup at provision.
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
