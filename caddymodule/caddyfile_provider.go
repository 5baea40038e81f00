package caddymodule

import (
	"fmt"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/provider"
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
	readsFile := isFile || opt.Kind == provider.KindFile || opt.Kind == provider.KindFiles
	for _, a := range args {
		if opt.Kind == provider.KindEnum && !provider.HasPlaceholder(a) && !contains(opt.Values, a) {
			return true, d.Errf("%s: %s must be %s, not %q", m.spec.Name, name, strings.Join(opt.Values, " or "), a)
		}
		if err := checkValueAtParse(opt, a, readsFile); err != nil {
			return true, d.Errf("%s: %s: %v", m.spec.Name, name, err)
		}
	}
	key := opt.JSONKey()
	if isFile {
		key = opt.FileKey()
	}
	m.values[key] = args
	return true, nil
}

// checkValueAtParse reads and parses a value that holds no placeholder;
// one that does is only known at provision, where Resolve checks it.
func checkValueAtParse(opt provider.Option, v string, readsFile bool) error {
	if opt.HoldsPlaceholder(v) || (opt.Parse == nil && !readsFile) {
		return nil
	}
	data := []byte(v)
	if readsFile {
		b, err := os.ReadFile(v)
		if err != nil {
			if pe, ok := err.(*os.PathError); ok {
				err = pe.Err
			}
			return fmt.Errorf("cannot read %s: %v", v, err)
		}
		data = b
	}
	if opt.Parse == nil {
		return nil
	}
	return opt.Parse(data)
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
	if inQuery {
		own := m.spec.OptionNames(true)
		return d.Errf("payguard %s: unknown query option %q (valid: endpoint, timeout, cache%s)", m.spec.Name, opt, prefixList(", ", own))
	}
	return d.Errf("payguard %s: unknown option %q (%s options: %s; common options: %s)", m.spec.Name, opt,
		m.spec.Name, strings.Join(m.spec.OptionNames(false), ", "), strings.Join(commonOptions, ", "))
}

func prefixList(sep string, list []string) string {
	if len(list) == 0 {
		return ""
	}
	return sep + strings.Join(list, sep)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
