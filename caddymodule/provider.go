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

// Spec is the provider's declaration.
func (m *ProviderModule) Spec() *provider.Spec { return m.spec }

// UnmarshalJSON reads the provider's options (the option table's JSON
// shape, provider.Spec.DecodeJSON) and the glue's `mode watch` ones.
func (m *ProviderModule) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.values = provider.Values{}
	for key, rv := range raw {
		if taken, err := m.watchOpts.TakeJSON(m.spec.Name, key, rv); err != nil {
			return err
		} else if taken {
			continue
		}
		if err := m.spec.DecodeJSON(m.values, key, rv); err != nil {
			return err
		}
	}
	return nil
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
	env, err := m.spec.Resolve(m.values, placeholders(), set)
	if err != nil {
		return provider.Built{}, err
	}
	defer env.Clear()
	return m.spec.Build(env)
}

// inlineSecrets lists the secret options given inline, without a
// placeholder: their values show at the admin API's /config/.
func (m *ProviderModule) inlineSecrets() []string { return m.spec.InlineSecrets(m.values) }

// Interface guard
var _ caddy.Module = (*ProviderModule)(nil)
