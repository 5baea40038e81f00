package caddymodule

// Lost-callback recovery's glue (DESIGN.md section 11): the `recover`
// block and the `mode watch` route, and the hooks around the pipeline
// that start and end watches. The work itself is internal/recovery's and
// internal/store's.
//
// `mode watch` and its token are recovery.WatchOptions, read before the
// provider's option table so that they work for every recoverable
// provider. A watch route builds no provider: it needs no keys, only the
// identity options (or order_namespace) that give it the notify route's
// namespace.

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/pipeline"
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

// unmarshalOther parses `mode watch` and, for any other option, the
// provider's (`mode notify|return` is the provider's).
func (m *ProviderModule) unmarshalOther(d *caddyfile.Dispenser, opt string) (bool, error) {
	if probe := *d; opt == "mode" && probe.NextArg() && probe.Val() == "watch" {
		d.NextArg()
		if d.NextArg() {
			return true, d.ArgErr()
		}
		m.watchOpts.Watch = true
		return true, nil
	}
	return m.unmarshalProviderOption(d, false)
}

// unmarshalRecover parses the `recover` block.
func (h *Handler) unmarshalRecover(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	rc := &RecoverConfig{}
	b := &block{
		twice: "payguard: recover.", label: "payguard: recover ", durations: "positive",
		options: []option{
			{name: "schedule", kind: kindDurations, to: &rc.Schedule},
			{name: "deliver_to", kind: kindString, to: &rc.DeliverTo},
		},
		unknownf: "payguard: unknown recover option %q (%s)", listed: true,
	}
	if err := b.walk(d); err != nil {
		return err
	}
	h.Recover = rc
	return nil
}

// checkRecoveryConfig holds the rules that need no provisioning: run
// after the block is read and again at provision (JSON configs).
func (h *Handler) checkRecoveryConfig(pm *ProviderModule) error {
	o := recovery.RouteOptions{
		Provider: pm.spec.Name, Recoverable: pm.spec.Recoverable,
		MerchantOption: pm.spec.MerchantOption, OrderNamespace: h.OrderNamespace,
		Watch: pm.watchOpts, Recover: h.Recover != nil,
	}
	if o.MerchantOption != "" {
		o.Merchant = pm.values.Get(o.MerchantOption)
	}
	if h.Recover != nil {
		o.Schedule, o.DeliverTo = recoverySchedule(h.Recover), h.Recover.DeliverTo
	}
	return recovery.CheckRoute(o)
}

// recoverySchedule is the recover block's offsets as written (not yet
// checked: recovery.Schedule does).
func recoverySchedule(rc *RecoverConfig) []time.Duration {
	out := make([]time.Duration, len(rc.Schedule))
	for i, d := range rc.Schedule {
		out[i] = time.Duration(d)
	}
	return out
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
