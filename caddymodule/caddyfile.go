package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

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

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	payguard <provider> {
//		allow_ips <cidr|ip> ...
//		max_body 64KiB
//		tolerance 5m
//		dedup_ttl 72h
//		claim_lease 30s
//		forward_timeout 60s
//		max_age 72h
//		forward original|normalized
//		upstream_secret whsec_... ...   (or upstream_secret_file <path> ...)
//		order_namespace <name>
//		audit_redact <field> ...
//		policy <file.cel | "inline expression">   # repeatable
//		order_lookup <url with {out_trade_no}>
//		order_timeout 3s
//		query [on|off] {
//			endpoint <url>
//			timeout 3s
//			cache 30s
//			<provider query credentials>
//		}
//		<provider options>
//	}
//
// Unknown and repeated options are errors.
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
	start := d.Nesting()
	seen := map[string]bool{}
	once := func(key string) error {
		if seen[key] {
			return d.Errf("payguard: %s given twice", strings.TrimPrefix(key, "."))
		}
		seen[key] = true
		return nil
	}
	for d.NextBlock(start) {
		opt := d.Val()
		if opt != "policy" {
			if err := once(opt); err != nil {
				return err
			}
		}
		if handled, err := h.unmarshalCommonOption(d, opt); handled || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		switch opt {
		case "query":
			if err := h.unmarshalQuery(d, pm, once); err != nil {
				return err
			}
		case "policy", "order_lookup", "order_timeout":
			if err := h.unmarshalPolicyOption(d, opt); err != nil {
				return err
			}
		default:
			if handled, err := h.unmarshalRecoveryOption(d, pm); err != nil {
				return err
			} else if handled {
				continue
			}
			handled, err := pm.unmarshalProviderOption(d, false)
			if err != nil {
				return err
			}
			if !handled {
				return pm.unknownOptionError(d, opt, false)
			}
		}
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

// unmarshalCommonOption parses the handler options that are no
// provider's; handled is false for any other option.
func (h *Handler) unmarshalCommonOption(d *caddyfile.Dispenser, opt string) (handled bool, err error) {
	switch opt {
	case "allow_ips":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.ArgErr()
		}
		if _, err := route.ParseAllowIPs(args); err != nil {
			return true, d.Errf("payguard: %v", err)
		}
		h.AllowIPs = args
	case "max_body":
		var s string
		if !d.AllArgs(&s) {
			return true, d.ArgErr()
		}
		if h.MaxBody, err = route.ParseMaxBody(s); err != nil {
			return true, d.Err(err.Error())
		}
	case "tolerance", "dedup_ttl", "claim_lease", "forward_timeout", "max_age":
		return true, h.unmarshalDuration(d, opt)
	case "forward":
		if !d.AllArgs(&h.Forward) {
			return true, d.ArgErr()
		}
		if _, err := route.ParseForward(h.Forward); err != nil {
			return true, d.Err(err.Error())
		}
	case "upstream_secret":
		h.UpstreamSecrets = d.RemainingArgs()
		if len(h.UpstreamSecrets) == 0 {
			return true, d.ArgErr()
		}
		for _, s := range h.UpstreamSecrets {
			if err := route.CheckUpstreamSecretArg(s); err != nil {
				return true, d.Err(err.Error())
			}
		}
	case "upstream_secret_file":
		h.UpstreamSecretFiles = d.RemainingArgs()
		if len(h.UpstreamSecretFiles) == 0 {
			return true, d.ArgErr()
		}
	case "order_namespace":
		if !d.AllArgs(&h.OrderNamespace) {
			return true, d.ArgErr()
		}
	case "audit_redact":
		h.AuditRedact = d.RemainingArgs()
		if len(h.AuditRedact) == 0 {
			return true, d.ArgErr()
		}
	default:
		return false, nil
	}
	return true, nil
}

// unmarshalDuration parses one of the handler's positive durations.
func (h *Handler) unmarshalDuration(d *caddyfile.Dispenser, opt string) error {
	target := map[string]*caddy.Duration{
		"tolerance": &h.Tolerance, "dedup_ttl": &h.DedupTTL, "claim_lease": &h.ClaimLease,
		"forward_timeout": &h.ForwardTimeout, "max_age": &h.MaxAge,
	}[opt]
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("payguard: %s %q is not a positive duration", opt, s)
	}
	*target = caddy.Duration(dur)
	return nil
}

func (h *Handler) unmarshalQuery(d *caddyfile.Dispenser, pm *ProviderModule, once func(string) error) error {
	q := &QueryConfig{}
	if d.NextArg() {
		switch d.Val() {
		case "on":
			t := true
			q.Enabled = &t
		case "off":
			f := false
			q.Enabled = &f
		default:
			return d.Errf("payguard: query takes on or off, not %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if err := once("query." + opt); err != nil {
			return err
		}
		switch opt {
		case "endpoint":
			if !d.AllArgs(&q.Endpoint) {
				return d.ArgErr()
			}
		case "timeout", "cache":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur < 0 || (opt == "timeout" && dur == 0) {
				return d.Errf("payguard: query %s %q is not a valid duration", opt, s)
			}
			if opt == "timeout" {
				q.Timeout = caddy.Duration(dur)
			} else {
				cache := caddy.Duration(dur)
				q.Cache = &cache
			}
		default:
			handled, err := pm.unmarshalProviderOption(d, true)
			if err != nil {
				return err
			}
			if !handled {
				return pm.unknownOptionError(d, opt, true)
			}
		}
	}
	h.Query = q
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
