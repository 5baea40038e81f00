// Package sim is payguard's provider simulator (DESIGN.md section 8): it
// signs notifications exactly as each payment provider signs them, with
// sandbox keys, and serves each provider's reverse-query API from an order
// book, so the whole pipeline (signature, replay, query, forward) runs
// locally without a provider account.
//
// Each provider package owns its sandbox (provider.SandboxSpec: its keys,
// signed notifications, tamper fields, query API and Caddyfile lines) and
// signs with its own signer, so the simulator never has a second, possibly
// diverging, copy of a signature scheme. This package only knows the
// registry: the order book, the control API, the notify loop and the key
// directory.
//
// Nothing here knows Caddy: caddymodule wraps Server as the payguard_sim
// handler and the `payguard sim` subcommands call Notify and WriteKeys.
//
// The sandbox is a test tool. Anyone who can reach its control API can
// register orders and so make its query API confirm them: it must only
// ever listen where payguard's tests and the operator's own machine can
// reach it.
package sim

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// Order, Message and OrderBook are the sandbox package's: every provider's
// sandbox works with them.
type (
	Order     = sandbox.Order
	Message   = sandbox.Message
	OrderBook = sandbox.OrderBook
)

// NewOrderBook returns an empty book.
func NewOrderBook() *OrderBook { return sandbox.NewOrderBook() }

// Provider is one simulated provider: its registered spec and its sandbox
// with the keys loaded.
type Provider struct {
	provider.Sandbox
	name string
	spec *provider.SandboxSpec
}

// Name is the provider name as payguard configures it.
func (p *Provider) Name() string { return p.name }

// Tamperable lists the fields BuildNotify's tamper accepts.
func (p *Provider) Tamperable() []string { return append([]string(nil), p.spec.Tamperable...) }

// Currency is the default currency of the provider's orders.
func (p *Provider) Currency() string { return p.spec.Currency }

// NewProvider wraps a sandbox of a registered provider.
func NewProvider(name string, sb provider.Sandbox) (*Provider, error) {
	s, ok := provider.Lookup(name)
	if !ok || s.Sandbox == nil {
		return nil, fmt.Errorf("provider %q has no sandbox", name)
	}
	return &Provider{Sandbox: sb, name: name, spec: s.Sandbox}, nil
}

// Load reads every registered provider's sandbox keys from dir; a
// provider whose files are all absent is left out, one with some of them is
// an error, and a directory that serves no provider is an error.
func Load(dir string, opts provider.SandboxOptions) ([]*Provider, error) {
	var out []*Provider
	for _, s := range provider.Specs() {
		if s.Sandbox == nil {
			continue
		}
		sb, err := s.Sandbox.Load(sandbox.Dir(dir), opts)
		if errors.Is(err, sandbox.ErrNoKeys) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", s.Name, err)
		}
		out = append(out, &Provider{Sandbox: sb, name: s.Name, spec: s.Sandbox})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no sandbox keys (write some with: payguard sim keys --dir %s)", dir, dir)
	}
	return out, nil
}

// KeysDirPath is dir as one keys directory is known however it is
// spelled (absolute, or as given when that fails): sandboxes of one
// directory share an order book, which the host keeps across reloads.
func KeysDirPath(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// Find returns the provider of that name from ps.
func Find(ps []*Provider, name string) (*Provider, bool) {
	for _, p := range ps {
		if p.name == name {
			return p, true
		}
	}
	return nil, false
}

// NewOutTradeNo returns a fresh merchant order number.
func NewOutTradeNo(now time.Time) string { return sandbox.NewOutTradeNo(now) }

// TamperFields lists, per simulated provider, the fields BuildNotify's
// tamper accepts, without needing keys (for help texts).
func TamperFields() map[string][]string {
	out := map[string][]string{}
	for _, s := range provider.Specs() {
		if s.Sandbox != nil {
			out[s.Name] = append([]string(nil), s.Sandbox.Tamperable...)
		}
	}
	return out
}

// clip shortens untrusted text for an error message.
func clip(s string) string { return sandbox.Clip(s) }
