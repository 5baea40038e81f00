package caddymodule

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/payguard/payguard/internal/provider"
	_ "github.com/payguard/payguard/internal/provider/all" // every provider registers itself
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
	watchOpts watchOptions
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

// UnmarshalJSON reads the provider's options: a string for single-valued
// options, an array for lists. An unknown key is an error that names the
// valid ones.
func (m *ProviderModule) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.values = provider.Values{}
	for key, rv := range raw {
		if taken, err := m.takeWatchJSON(key, rv); err != nil {
			return err
		} else if taken {
			continue
		}
		opt, ok := m.optionByJSON(key)
		if !ok {
			return fmt.Errorf("%s: unknown option %q (valid: %s)", m.spec.Name, key, strings.Join(m.jsonKeys(), ", "))
		}
		if opt.Multi() && key == opt.JSONKey() {
			var list []string
			if err := json.Unmarshal(rv, &list); err != nil {
				return fmt.Errorf("%s: %s must be an array of strings", m.spec.Name, key)
			}
			m.values[key] = list
			continue
		}
		var s string
		if err := json.Unmarshal(rv, &s); err != nil {
			return fmt.Errorf("%s: %s must be a string", m.spec.Name, key)
		}
		m.values[key] = []string{s}
	}
	return nil
}

// MarshalJSON writes the options in the shape UnmarshalJSON reads.
func (m ProviderModule) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	for key, v := range m.values {
		opt, _ := m.optionByJSON(key)
		if opt.Multi() && key == opt.JSONKey() {
			out[key] = v
		} else if len(v) > 0 {
			out[key] = v[0]
		}
	}
	m.putWatchJSON(out)
	return json.Marshal(out)
}

func (m *ProviderModule) optionByJSON(key string) (provider.Option, bool) {
	for _, o := range m.spec.Options {
		if o.JSONKey() == key || (o.Kind == provider.KindSecret && o.FileKey() == key) {
			return o, true
		}
	}
	return provider.Option{}, false
}

func (m *ProviderModule) jsonKeys() []string {
	var keys []string
	for _, o := range m.spec.Options {
		keys = append(keys, o.JSONKey())
		if o.Kind == provider.KindSecret {
			keys = append(keys, o.FileKey())
		}
	}
	sort.Strings(keys)
	return keys
}

// build resolves the options (placeholders with Caddy's replacer, files
// read) and builds the provider, once, at provision. Resolved secrets are
// cleared once the provider holds its parsed copy.
func (m *ProviderModule) build(set provider.Settings) (provider.Built, error) {
	repl := caddy.NewReplacer()
	env, err := m.spec.Resolve(m.values, func(s string) (string, error) {
		return repl.ReplaceOrErr(s, true, true)
	}, set)
	if err != nil {
		return provider.Built{}, err
	}
	defer env.Clear()
	return m.spec.Build(env)
}

// inlineSecrets lists the secret options given inline, without a
// placeholder: their values show at the admin API's /config/.
func (m *ProviderModule) inlineSecrets() []string {
	var out []string
	for _, o := range m.spec.Options {
		if o.Kind == provider.KindSecret && m.values.Get(o.JSONKey()) != "" && !provider.HasPlaceholder(m.values.Get(o.JSONKey())) {
			out = append(out, o.Name)
		}
	}
	return out
}

// Interface guard
var _ caddy.Module = (*ProviderModule)(nil)
