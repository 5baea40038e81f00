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
	"context"
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/caddyfileopts"
	"github.com/payguard/payguard/internal/metrics"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/route"
)

// RecoverConfig is the `recover` block.
type RecoverConfig struct {
	// Schedule holds the offsets from when an order was first seen;
	// default 1m 5m 15m 1h 6h 24h.
	Schedule []caddy.Duration `json:"schedule,omitempty"`
	// DeliverTo receives recovered payments; empty: report only.
	DeliverTo string `json:"deliver_to,omitempty"`
}

// recoveryState is a handler's part of recovery: its worker (recover
// block) or its watch route (mode watch).
type recoveryState struct {
	stop  func()
	watch *recovery.WatchRoute
}

// unmarshalRecover parses the `recover` block.
func (h *Handler) unmarshalRecover(d *caddyfile.Dispenser) error {
	rc := &RecoverConfig{}
	b := &caddyfileopts.Block{
		Twice: "payguard: recover.", Label: "payguard: recover ", Durations: "positive",
		Options: []caddyfileopts.Option{
			{Name: "schedule", Kind: caddyfileopts.Durations, To: &rc.Schedule},
			{Name: "deliver_to", Kind: caddyfileopts.String, To: &rc.DeliverTo},
		},
		Unknownf: "payguard: unknown recover option %q (%s)", Listed: true,
	}
	if err := b.WalkBare(d); err != nil {
		return err
	}
	h.Recover = rc
	return nil
}

// recoveryOptions are the route's options recovery's rules look at.
func (h *Handler) recoveryOptions(pm *ProviderModule) recovery.RouteOptions {
	o := recovery.RouteOptions{
		Provider: pm.spec.Name, Recoverable: pm.spec.Recoverable,
		MerchantOption: pm.spec.MerchantOption, OrderNamespace: h.OrderNamespace,
		Watch: pm.watchOpts, Recover: h.Recover != nil,
	}
	if o.MerchantOption != "" {
		o.Merchant = pm.values.Get(o.MerchantOption)
	}
	if h.Recover != nil {
		// As written; recovery.Schedule checks them.
		for _, d := range h.Recover.Schedule {
			o.Schedule = append(o.Schedule, time.Duration(d))
		}
		o.DeliverTo = h.Recover.DeliverTo
	}
	return o
}

// provisionWatch sets up a mode watch route: no provider is built.
func (h *Handler) provisionWatch() error {
	o := h.recoveryOptions(h.provider)
	if err := recovery.CheckRoute(o); err != nil {
		return err
	}
	allow, err := route.ParseAllowIPs(h.AllowIPs)
	if err != nil {
		return err
	}
	wr, err := o.WatchRoute(recovery.WatchRouteConfig{
		Store: h.app.store, Routes: h.app.recoveries, Allow: allow, MaxBody: h.MaxBody, Logger: h.logger,
	}, placeholders())
	if err != nil {
		return err
	}
	h.recovery = &recoveryState{watch: wr}
	return nil
}

// recoveryHook is the route's pipeline hook: nil unless its provider is
// recoverable. Its hold on a transaction outlasts every forward.
func (h *Handler) recoveryHook(traits provider.Traits) pipeline.Hook {
	if !h.provider.spec.Recoverable {
		return nil
	}
	return recovery.NewGuard(recovery.GuardConfig{Provider: h.provider.spec.Name, Store: h.app.store,
		Routes: h.app.recoveries, Passthrough: traits.Passthrough, Logger: h.logger,
		Lease: recovery.GuardLease(time.Duration(h.ForwardTimeout), time.Duration(h.ClaimLease))})
}

// provisionRecovery starts the recover block's worker, and registers the
// route's pair so that its return and pending notifications start watches.
func (h *Handler) provisionRecovery(ctx caddy.Context, q provider.Querier, secrets [][]byte) error {
	o := h.recoveryOptions(h.provider)
	if err := recovery.CheckRoute(o); err != nil || !o.Recover {
		return err
	}
	oq, ok := q.(provider.OrderQuerier)
	if !ok {
		return errors.New("payguard " + o.Provider + ": recover needs the query credentials (query by order number)")
	}
	if err := metrics.Register(ctx.GetMetricsRegistry(), metrics.Recovery()...); err != nil {
		return err
	}
	w, err := o.Worker(recovery.Config{
		Store: h.app.store, Querier: oq, UpstreamSecrets: secrets,
		DedupTTL: h.pipeline.DedupTTL(), ClaimLease: time.Duration(h.ClaimLease),
		Audit: h.writeRecoveryAudit, Count: metrics.RecoveryCount(o.Provider), Logger: h.logger,
	}, h.app.recoveries, placeholders())
	if err != nil {
		return err
	}
	h.recovery = &recoveryState{stop: w.Start()}
	return nil
}

// Cleanup stops the handler's recovery worker (config reload or exit) and
// its pipeline's writer of pending done records. Watches stay in the
// store for the next config or another instance.
func (h *Handler) Cleanup() error {
	if h.recovery != nil && h.recovery.stop != nil {
		h.recovery.stop()
	}
	if h.pipeline != nil {
		for _, id := range h.pipeline.Close() {
			h.logger.Error("the shop accepted a notification whose done record the store never took; a provider's retry of it may be delivered again",
				zap.String("provider", h.pipeline.ProviderName()), zap.String("event_id", id))
		}
	}
	return nil
}

func (h *Handler) writeRecoveryAudit(ctx context.Context, rec *audit.Record) {
	if h.app.audit == nil || h.app.audit == audit.Discard {
		return
	}
	if err := h.app.audit.Write(ctx, rec); err != nil {
		h.logger.Error("audit record not written", zap.Error(err), zap.String("outcome", string(rec.Outcome)))
	}
}
