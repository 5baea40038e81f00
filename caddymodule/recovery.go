package caddymodule

// Lost-callback recovery's glue (DESIGN.md section 11): the `recover`
// block and the `mode watch` route, and the hooks around the pipeline
// that start and end watches. The work itself is internal/recovery's and
// internal/store's.
//
// `mode watch` is the glue's option, not a provider's: the glue reads it
// before the provider's option table (alipay's own `mode notify|return`
// still reaches alipay), so it works for every recoverable provider. In
// JSON it sits with the provider's options, as DESIGN.md says
// ("mode": "watch", "watch_token" or "watch_token_file"). A watch route
// builds no provider: it needs no keys, only the identity options (or
// order_namespace) that give it the notify route's namespace.

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
)

// RecoverConfig is the `recover` block.
type RecoverConfig struct {
	// Schedule holds the offsets from when an order was first seen;
	// default 1m 5m 15m 1h 6h 24h.
	Schedule []caddy.Duration `json:"schedule,omitempty"`
	// DeliverTo receives recovered payments; empty: report only.
	DeliverTo string `json:"deliver_to,omitempty"`
}

// watchOptions are the glue's own options in the provider's JSON.
type watchOptions struct {
	watch     bool
	token     string // placeholder allowed
	tokenFile string
}

// takeWatchJSON consumes "mode": "watch", "watch_token" and
// "watch_token_file" from a provider's JSON options; it reports whether
// key was one of them.
func (m *ProviderModule) takeWatchJSON(key string, raw json.RawMessage) (bool, error) {
	var s string
	switch key {
	case "mode", "watch_token", "watch_token_file":
		if err := json.Unmarshal(raw, &s); err != nil {
			return key != "mode", fmt.Errorf("%s: %s must be a string", m.spec.Name, key)
		}
	default:
		return false, nil
	}
	switch key {
	case "mode":
		if s != "watch" {
			return false, nil // the provider's own mode (alipay)
		}
		m.watchOpts.watch = true
	case "watch_token":
		m.watchOpts.token = s
	case "watch_token_file":
		m.watchOpts.tokenFile = s
	}
	return true, nil
}

// putWatchJSON writes them back.
func (m *ProviderModule) putWatchJSON(out map[string]any) {
	if m.watchOpts.watch {
		out["mode"] = "watch"
	}
	if m.watchOpts.token != "" {
		out["watch_token"] = m.watchOpts.token
	}
	if m.watchOpts.tokenFile != "" {
		out["watch_token_file"] = m.watchOpts.tokenFile
	}
}

// unmarshalRecoveryOption parses `recover`, `mode watch`, `watch_token`
// and `watch_token_file`; false: not one of them (`mode notify|return` is
// the provider's).
func (h *Handler) unmarshalRecoveryOption(d *caddyfile.Dispenser, pm *ProviderModule) (bool, error) {
	switch d.Val() {
	case "mode":
		probe := *d
		if !probe.NextArg() || probe.Val() != "watch" {
			return false, nil
		}
		d.NextArg()
		if d.NextArg() {
			return true, d.ArgErr()
		}
		pm.watchOpts.watch = true
	case "watch_token", "watch_token_file":
		opt := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return true, d.ArgErr()
		}
		if opt == "watch_token" {
			pm.watchOpts.token = v
		} else {
			pm.watchOpts.tokenFile = v
		}
	case "recover":
		if d.NextArg() {
			return true, d.ArgErr()
		}
		rc := &RecoverConfig{}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch d.Val() {
			case "schedule":
				args := d.RemainingArgs()
				if len(args) == 0 {
					return true, d.ArgErr()
				}
				for _, a := range args {
					dur, err := caddy.ParseDuration(a)
					if err != nil || dur <= 0 {
						return true, d.Errf("payguard: recover schedule %q is not a positive duration", a)
					}
					rc.Schedule = append(rc.Schedule, caddy.Duration(dur))
				}
			case "deliver_to":
				if !d.AllArgs(&rc.DeliverTo) {
					return true, d.ArgErr()
				}
			default:
				return true, d.Errf("payguard: unknown recover option %q (schedule, deliver_to)", d.Val())
			}
		}
		h.Recover = rc
	default:
		return false, nil
	}
	return true, nil
}

// checkRecoveryConfig holds the rules that need no provisioning: run
// after the block is read and again at provision (JSON configs).
func (h *Handler) checkRecoveryConfig(pm *ProviderModule) error {
	name := pm.spec.Name
	w := pm.watchOpts
	switch {
	case (h.Recover != nil || w.watch) && !pm.spec.Recoverable:
		return fmt.Errorf("payguard %s: lost-callback recovery (recover, mode watch) needs a query by order number, which %s does not offer", name, name)
	case w.watch && h.Recover != nil:
		return fmt.Errorf("payguard %s: a mode watch route answers by itself; its recover block belongs on the notify route", name)
	case w.watch && (w.token == "") == (w.tokenFile == ""):
		return fmt.Errorf("payguard %s: mode watch needs watch_token or watch_token_file (one of them)", name)
	case !w.watch && (w.token != "" || w.tokenFile != ""):
		return fmt.Errorf("payguard %s: watch_token belongs to a mode watch route", name)
	case w.watch && h.OrderNamespace == "" && pm.spec.MerchantOption != "" && pm.values.Get(pm.spec.MerchantOption) == "":
		return fmt.Errorf("payguard %s: a mode watch route needs %s (or order_namespace), so that its namespace is the notify route's", name, pm.spec.MerchantOption)
	}
	if h.Recover != nil {
		if _, err := recoverySchedule(h.Recover); err != nil {
			return fmt.Errorf("payguard %s: %v", name, err)
		}
		if u := h.Recover.DeliverTo; u != "" && !provider.HasPlaceholder(u) &&
			!strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("payguard %s: recover deliver_to %q is not an http(s) URL", name, u)
		}
	}
	return nil
}

func recoverySchedule(rc *RecoverConfig) ([]time.Duration, error) {
	var out []time.Duration
	for i, d := range rc.Schedule {
		if d <= 0 || (i > 0 && d <= rc.Schedule[i-1]) {
			return nil, fmt.Errorf("recover schedule offsets must be positive and ascending")
		}
		out = append(out, time.Duration(d))
	}
	if len(out) == 0 {
		out = recovery.DefaultSchedule
	}
	return out, nil
}

// recoveryNamespace is the route's order namespace as its notifications
// have it: pipeline.Namespace of order_namespace, the provider and the
// merchant the route's identity option (Spec.MerchantOption) configures.
func (h *Handler) recoveryNamespace() (string, error) {
	spec := h.provider.spec
	merchant := ""
	if spec.MerchantOption != "" {
		v, err := caddy.NewReplacer().ReplaceOrErr(h.provider.values.Get(spec.MerchantOption), true, true)
		if err != nil {
			return "", fmt.Errorf("payguard %s: %s: %v", spec.Name, spec.MerchantOption, err)
		}
		merchant = v
	}
	return pipeline.Namespace(h.OrderNamespace, spec.Name, merchant), nil
}
