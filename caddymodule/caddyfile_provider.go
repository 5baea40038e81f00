package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/route"
)

// unmarshalProviderOption parses the provider option at d.Val() from the
// spec's table; inQuery is true inside the `query` block. It reports false
// for an option that is not the provider's. Values free of placeholders are
// checked here, so `payguard validate` names the line.
func (m *ProviderModule) unmarshalProviderOption(d *caddyfile.Dispenser, inQuery bool) (bool, error) {
	name := d.Val()
	opt, isFile, ok := m.spec.Option(name, inQuery)
	if !ok {
		return false, nil
	}
	var args []string
	if opt.Multi() {
		args = d.RemainingArgs()
		if len(args) == 0 {
			return true, d.ArgErr()
		}
	} else {
		var v string
		if !d.AllArgs(&v) {
			return true, d.ArgErr()
		}
		args = []string{v}
	}
	if d.NextBlock(d.Nesting()) {
		return true, d.Errf("%s %s takes no block", m.spec.Name, name)
	}
	for _, a := range args {
		if err := provider.CheckArg(opt, name, a); err != nil {
			return true, d.Errf("%s: %v", m.spec.Name, err)
		}
	}
	key := opt.JSONKey()
	if isFile {
		key = opt.FileKey()
	}
	m.values[key] = args
	return true, nil
}

// finishProviderCaddyfile applies the table's and the provider's own rules
// once the block is read; at is the directive's token, so a missing option
// is reported at the directive's line rather than the closing brace.
func (m *ProviderModule) finishProviderCaddyfile(at *caddyfile.Dispenser) error {
	if err := m.spec.CheckTable(m.values); err != nil {
		return at.Errf("%s: %v", m.spec.Name, err)
	}
	return nil
}

// unknownOptionError lists what the block accepts.
func (m *ProviderModule) unknownOptionError(d *caddyfile.Dispenser, opt string, inQuery bool) error {
	common := route.Options
	if inQuery {
		common = route.QueryOptions
	}
	return d.Err(m.spec.UnknownOption(opt, inQuery, common).Error())
}
