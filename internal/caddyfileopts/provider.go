package caddyfileopts

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/route"
)

// ProviderTable reads a provider's options from its spec's table into
// Values, and the glue's `mode watch` options (recovery.WatchOptions) that
// every recoverable provider takes beside them.
type ProviderTable struct {
	Spec   *provider.Spec
	Values provider.Values
	Watch  *recovery.WatchOptions
}

// Extend makes b, the handler's block (inQuery false) or its query block,
// take the provider's options, and the watch options in the handler's;
// an option neither takes is an error listing both.
func (t ProviderTable) Extend(b *Block, inQuery bool) *Block {
	b.Unknown = func(d *caddyfile.Dispenser, opt string) error { return t.unknownOption(d, opt, inQuery) }
	if inQuery {
		b.Other = func(d *caddyfile.Dispenser, _ string) (bool, error) { return t.option(d, true) }
		return b
	}
	b.Other = t.other
	b.Options = append(b.Options,
		Option{Name: "watch_token", Kind: String, To: &t.Watch.Token},
		Option{Name: "watch_token_file", Kind: String, To: &t.Watch.TokenFile})
	return b
}

// other parses `mode watch` and, for any other option, the provider's
// (`mode notify|return` is the provider's).
func (t ProviderTable) other(d *caddyfile.Dispenser, opt string) (bool, error) {
	if probe := *d; opt == "mode" && probe.NextArg() && probe.Val() == "watch" {
		d.NextArg()
		if d.NextArg() {
			return true, d.ArgErr()
		}
		t.Watch.Watch = true
		return true, nil
	}
	return t.option(d, false)
}

// option parses the provider option at d.Val() from the spec's table;
// inQuery is true inside the `query` block. It reports false for an
// option that is not the provider's. Values free of placeholders are
// checked here, so `payguard validate` names the line.
func (t ProviderTable) option(d *caddyfile.Dispenser, inQuery bool) (bool, error) {
	name := d.Val()
	opt, isFile, ok := t.Spec.Option(name, inQuery)
	if !ok {
		return false, nil
	}
	args, err := Args(d, opt.Multi())
	if err != nil {
		return true, err
	}
	if d.NextBlock(d.Nesting()) {
		return true, d.Errf("%s %s takes no block", t.Spec.Name, name)
	}
	for _, a := range args {
		if err := provider.CheckArg(opt, name, a); err != nil {
			return true, d.Errf("%s: %v", t.Spec.Name, err)
		}
	}
	key := opt.JSONKey()
	if isFile {
		key = opt.FileKey()
	}
	t.Values[key] = args
	return true, nil
}

// Finish applies the table's and the provider's own rules once the block
// is read; at is the directive's token, so a missing option is reported
// at the directive's line rather than the closing brace. A watch route
// builds no provider: its keys are not required.
func (t ProviderTable) Finish(at *caddyfile.Dispenser) error {
	if t.Watch.Watch {
		return nil
	}
	if err := t.Spec.CheckTable(t.Values); err != nil {
		return at.Errf("%s: %v", t.Spec.Name, err)
	}
	return nil
}

// unknownOption lists what the block accepts.
func (t ProviderTable) unknownOption(d *caddyfile.Dispenser, opt string, inQuery bool) error {
	common := route.Options
	if inQuery {
		common = route.QueryOptions
	}
	return d.Err(t.Spec.UnknownOption(opt, inQuery, common).Error())
}

// Policy reads one `policy`, the current token, into to. It is compiled
// here too, so `payguard validate` names the Caddyfile line as well as the
// policy file and CEL's position.
func Policy(d *caddyfile.Dispenser, to *[]policy.Config) error {
	var arg string
	if !d.AllArgs(&arg) {
		return d.Err("payguard: policy takes one .cel file or one quoted expression (`notification.amount < 100`)")
	}
	pc := policy.ConfigOf(arg)
	if _, err := pc.Compile(); err != nil {
		return d.Errf("payguard: %v", err)
	}
	*to = append(*to, pc)
	return nil
}
