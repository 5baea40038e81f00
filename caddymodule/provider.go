package caddymodule

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2"

	"github.com/payguard/payguard/internal/provider"
	_ "github.com/payguard/payguard/internal/provider/all" // every provider registers itself
	"github.com/payguard/payguard/internal/recovery"
)

func init() {
	for _, s := range provider.Specs() {
		caddy.RegisterModule(ProviderModule{spec: s})
	}
}

// ProviderModule is the Caddy module payguard.providers.<name> of one
// registered provider: its options as configured (placeholders and file
// names, never resolved secrets), in the JSON shape the provider's option
// table gives. It is the same type for every provider; the provider's own
// package declares what its options are.
type ProviderModule struct {
	spec   *provider.Spec
	values provider.Values
	// watchOpts are the glue's `mode watch` options (recovery.go).
	watchOpts recovery.WatchOptions
}

// CaddyModule returns the Caddy module information.
func (m ProviderModule) CaddyModule() caddy.ModuleInfo {
	spec := m.spec
	return caddy.ModuleInfo{
		ID:  caddy.ModuleID("payguard.providers." + spec.Name),
		New: func() caddy.Module { return &ProviderModule{spec: spec, values: provider.Values{}} },
	}
}

// UnmarshalJSON reads the provider's options (the option table's JSON
// shape, provider.Spec.DecodeJSONObject) and the glue's `mode watch` ones.
func (m *ProviderModule) UnmarshalJSON(b []byte) (err error) {
	m.values, err = m.spec.DecodeJSONObject(b, func(key string, raw json.RawMessage) (bool, error) {
		return m.watchOpts.TakeJSON(m.spec.Name, key, raw)
	})
	return err
}

// MarshalJSON writes the options in the shape UnmarshalJSON reads.
func (m ProviderModule) MarshalJSON() ([]byte, error) {
	out := m.spec.EncodeJSON(m.values)
	m.watchOpts.PutJSON(out)
	return json.Marshal(out)
}

// build resolves the options (placeholders with Caddy's replacer, files
// read) and builds the provider, once, at provision. Resolved secrets are
// cleared once the provider holds its parsed copy.
func (m *ProviderModule) build(set provider.Settings) (provider.Built, error) {
	return m.spec.BuildFrom(m.values, placeholders(), set)
}

// inlineSecrets lists the secret options given inline, without a
// placeholder: their values show at the admin API's /config/.
func (m *ProviderModule) inlineSecrets() []string { return m.spec.InlineSecrets(m.values) }

// Interface guard
var _ caddy.Module = (*ProviderModule)(nil)
