package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/payguard/payguard/internal/orderlookup"
	"github.com/payguard/payguard/internal/provider"
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
	info, err := caddy.GetModule("payguard.providers." + name)
	if err != nil {
		return d.Errf("payguard: unknown provider %q (providers: %s)", name, strings.Join(provider.Names(), ", "))
	}
	pm, ok := info.New().(*ProviderModule)
	if !ok {
		return d.Errf("payguard: %q is not a payguard provider", name)
	}
	// The directive's token: a missing option is reported at this line.
	at := *d
	if err := h.caddyfileBlock(pm).walk(d); err != nil {
		return err
	}
	if err := h.checkRecoveryConfig(pm); err != nil {
		return at.Err(err.Error())
	}
	if pm.watchOpts.Watch {
		// A watch route builds no provider: its keys are not required.
	} else if err := pm.finishProviderCaddyfile(&at); err != nil {
		return err
	}
	h.ProviderRaw = caddyconfig.JSONModuleObject(pm, "name", name, nil)
	return nil
}

// caddyfileBlock is the handler's table: each option, its kind and the
// field it lands in. An option not in it is `mode watch` or the
// provider's (its spec's table).
func (h *Handler) caddyfileBlock(pm *ProviderModule) *block {
	return &block{
		twice: "payguard: ", label: "payguard: ", durations: "positive",
		options: []option{
			{name: "allow_ips", kind: kindList, to: &h.AllowIPs, check: func(a []string) error {
				_, err := route.ParseAllowIPs(a)
				return prefixed(err)
			}},
			{name: "max_body", kind: kindSize, to: &h.MaxBody},
			{name: "tolerance", kind: kindDuration, to: &h.Tolerance},
			{name: "dedup_ttl", kind: kindDuration, to: &h.DedupTTL},
			{name: "claim_lease", kind: kindDuration, to: &h.ClaimLease},
			{name: "forward_timeout", kind: kindDuration, to: &h.ForwardTimeout},
			{name: "max_age", kind: kindDuration, to: &h.MaxAge},
			{name: "forward", kind: kindString, to: &h.Forward, check: func(a []string) error {
				_, err := route.ParseForward(a[0])
				return err
			}},
			{name: "upstream_secret", kind: kindList, to: &h.UpstreamSecrets, check: each(route.CheckUpstreamSecretArg)},
			{name: "upstream_secret_file", kind: kindList, to: &h.UpstreamSecretFiles},
			{name: "order_namespace", kind: kindString, to: &h.OrderNamespace},
			{name: "audit_redact", kind: kindList, to: &h.AuditRedact},
			{name: "query", kind: kindGrammar, parse: func(d *caddyfile.Dispenser) error { return h.unmarshalQuery(d, pm) }},
			{name: "policy", kind: kindGrammar, parse: h.unmarshalPolicy, repeat: true},
			{name: "order_lookup", kind: kindString, to: &h.OrderLookup, check: func(a []string) error {
				return prefixed(orderlookup.CheckConfigured(a[0]))
			}},
			{name: "order_timeout", kind: kindDuration, to: &h.OrderTimeout},
			{name: "recover", kind: kindGrammar, parse: h.unmarshalRecover},
			{name: "watch_token", kind: kindString, to: &pm.watchOpts.Token},
			{name: "watch_token_file", kind: kindString, to: &pm.watchOpts.TokenFile},
		},
		other:   pm.unmarshalOther,
		unknown: func(d *caddyfile.Dispenser, opt string) error { return pm.unknownOptionError(d, opt, false) },
	}
}

// unmarshalQuery parses `query [on|off] { ... }`: its own options, then
// the provider's query credentials.
func (h *Handler) unmarshalQuery(d *caddyfile.Dispenser, pm *ProviderModule) error {
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
	b := &block{
		twice: "payguard: query.", label: "payguard: query ", durations: "valid",
		options: []option{
			{name: "endpoint", kind: kindString, to: &q.Endpoint},
			{name: "timeout", kind: kindDuration, to: &q.Timeout},
			{name: "cache", kind: kindDuration, to: &q.Cache, zeroOK: true},
		},
		other:   func(d *caddyfile.Dispenser, _ string) (bool, error) { return pm.unmarshalProviderOption(d, true) },
		unknown: func(d *caddyfile.Dispenser, opt string) error { return pm.unknownOptionError(d, opt, true) },
	}
	if err := b.walk(d); err != nil {
		return err
	}
	h.Query = q
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
