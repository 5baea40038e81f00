package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/payguard/payguard/internal/caddyfileopts"
	"github.com/payguard/payguard/internal/orderlookup"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/route"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("payguard", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("payguard", parseHandlerDirective)
	// Users write no `order` line: payguard must run before the proxy it
	// guards.
	httpcaddyfile.RegisterDirectiveOrder("payguard", httpcaddyfile.Before, "reverse_proxy")
}

func parseHandlerDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens,
// `payguard <provider> { <option> <args>... }`: the handler's options are
// caddyfileBlock's table, the provider's its spec's, and
// docs/configuration.md shows them all. Unknown and repeated options are
// errors.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if !d.NextArg() {
		return d.Errf("payguard: a provider name is required: payguard <provider> { ... } (providers: %s)", strings.Join(provider.Names(), ", "))
	}
	name := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	spec, ok := provider.Lookup(name)
	if !ok {
		return d.Errf("payguard: unknown provider %q (providers: %s)", name, strings.Join(provider.Names(), ", "))
	}
	pm := &ProviderModule{spec: spec, values: provider.Values{}}
	table := caddyfileopts.ProviderTable{Spec: spec, Values: pm.values, Watch: &pm.watchOpts}
	// The directive's token: a missing option is reported at this line.
	at := *d
	if err := table.Extend(h.caddyfileBlock(table), false).Walk(d); err != nil {
		return err
	}
	if err := recovery.CheckRoute(h.recoveryOptions(pm)); err != nil {
		return at.Err(err.Error())
	}
	if err := table.Finish(&at); err != nil {
		return err
	}
	h.ProviderRaw = caddyconfig.JSONModuleObject(pm, "name", name, nil)
	return nil
}

// caddyfileBlock is the handler's table: each option, its kind and the
// field it lands in. An option not in it is `mode watch`, a watch token
// or the provider's (its spec's table): table.Extend adds them.
func (h *Handler) caddyfileBlock(table caddyfileopts.ProviderTable) *caddyfileopts.Block {
	return &caddyfileopts.Block{
		Twice: "payguard: ", Label: "payguard: ", Durations: "positive",
		Options: []caddyfileopts.Option{
			{Name: "allow_ips", Kind: caddyfileopts.List, To: &h.AllowIPs, Check: func(a []string) error {
				_, err := route.ParseAllowIPs(a)
				return caddyfileopts.Prefixed(err)
			}},
			{Name: "max_body", Kind: caddyfileopts.Size, To: &h.MaxBody},
			{Name: "tolerance", Kind: caddyfileopts.Duration, To: &h.Tolerance},
			{Name: "dedup_ttl", Kind: caddyfileopts.Duration, To: &h.DedupTTL},
			{Name: "claim_lease", Kind: caddyfileopts.Duration, To: &h.ClaimLease},
			{Name: "forward_timeout", Kind: caddyfileopts.Duration, To: &h.ForwardTimeout},
			{Name: "max_age", Kind: caddyfileopts.Duration, To: &h.MaxAge},
			{Name: "forward", Kind: caddyfileopts.String, To: &h.Forward, Check: func(a []string) error {
				_, err := route.ParseForward(a[0])
				return err
			}},
			{Name: "upstream_secret", Kind: caddyfileopts.List, To: &h.UpstreamSecrets, Check: caddyfileopts.Each(route.CheckUpstreamSecretArg)},
			{Name: "upstream_secret_file", Kind: caddyfileopts.List, To: &h.UpstreamSecretFiles},
			{Name: "order_namespace", Kind: caddyfileopts.String, To: &h.OrderNamespace},
			{Name: "audit_redact", Kind: caddyfileopts.List, To: &h.AuditRedact},
			{Name: "query", Kind: caddyfileopts.Grammar, Parse: func(d *caddyfile.Dispenser) error { return h.unmarshalQuery(d, table) }},
			{Name: "policy", Kind: caddyfileopts.Grammar, Repeat: true, Parse: func(d *caddyfile.Dispenser) error {
				return caddyfileopts.Policy(d, &h.Policies)
			}},
			{Name: "order_lookup", Kind: caddyfileopts.String, To: &h.OrderLookup, Check: func(a []string) error {
				return caddyfileopts.Prefixed(orderlookup.CheckConfigured(a[0]))
			}},
			{Name: "order_timeout", Kind: caddyfileopts.Duration, To: &h.OrderTimeout},
			{Name: "recover", Kind: caddyfileopts.Grammar, Parse: h.unmarshalRecover},
		},
	}
}

// unmarshalQuery parses `query [on|off] { ... }`: its own options, then
// the provider's query credentials.
func (h *Handler) unmarshalQuery(d *caddyfile.Dispenser, table caddyfileopts.ProviderTable) error {
	q := &QueryConfig{}
	if d.NextArg() {
		on := d.Val() == "on"
		if !on && d.Val() != "off" {
			return d.Errf("payguard: query takes on or off, not %q", d.Val())
		}
		q.Enabled = &on
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	b := &caddyfileopts.Block{
		Twice: "payguard: query.", Label: "payguard: query ", Durations: "valid",
		Options: []caddyfileopts.Option{
			{Name: "endpoint", Kind: caddyfileopts.String, To: &q.Endpoint},
			{Name: "timeout", Kind: caddyfileopts.Duration, To: &q.Timeout},
			{Name: "cache", Kind: caddyfileopts.Duration, To: &q.Cache, ZeroOK: true},
		},
	}
	if err := table.Extend(b, true).Walk(d); err != nil {
		return err
	}
	h.Query = q
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
