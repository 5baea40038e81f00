package caddymodule

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/metrics"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/route"
)

// recoveryState is a handler's part of recovery: its worker (recover
// block) or its watch route (mode watch).
type recoveryState struct {
	stop  context.CancelFunc
	done  chan struct{}
	watch *recovery.WatchRoute
}

// provisionWatch sets up a mode watch route: no provider is built.
func (h *Handler) provisionWatch() error {
	name := h.provider.spec.Name
	if err := h.checkRecoveryConfig(h.provider); err != nil {
		return err
	}
	allow, err := route.ParseAllowIPs(h.AllowIPs)
	if err != nil {
		return err
	}
	tok, err := h.provider.watchOpts.ResolveToken(placeholders())
	if err != nil {
		return errors.New("payguard " + name + ": " + err.Error())
	}
	ns, err := h.recoveryNamespace()
	if err != nil {
		return err
	}
	wr, err := recovery.NewWatchRoute(recovery.WatchRouteConfig{
		Provider: name, Namespace: ns, Store: h.app.store, Routes: h.app.recoveries,
		Token: tok, Allow: allow, MaxBody: h.MaxBody, Logger: h.logger,
	})
	if err != nil {
		return errors.New("payguard " + name + ": " + err.Error())
	}
	if len(allow) == 0 {
		h.logger.Warn("allow_ips is empty: watch registrations are accepted from any source address", zap.String("provider", name))
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
	lease := cmp.Or(time.Duration(h.ForwardTimeout), pipeline.DefaultForwardTimeout) +
		cmp.Or(time.Duration(h.ClaimLease), pipeline.DefaultClaimLease)
	return recovery.NewGuard(recovery.GuardConfig{Provider: h.provider.spec.Name, Store: h.app.store,
		Routes: h.app.recoveries, Passthrough: traits.Passthrough, Lease: lease, Logger: h.logger})
}

// provisionRecovery starts the recover block's worker, and registers the
// route's pair so that its return and pending notifications start watches.
func (h *Handler) provisionRecovery(ctx caddy.Context, q provider.Querier, secrets [][]byte) error {
	if err := h.checkRecoveryConfig(h.provider); err != nil {
		return err
	}
	if h.Recover == nil {
		return nil
	}
	name := h.provider.spec.Name
	oq, ok := q.(provider.OrderQuerier)
	if !ok {
		return errors.New("payguard " + name + ": recover needs the query credentials (query by order number)")
	}
	if err := metrics.Register(ctx.GetMetricsRegistry(), metrics.Recovery()...); err != nil {
		return err
	}
	sched, _ := recovery.Schedule(recoverySchedule(h.Recover)) // checked by checkRecoveryConfig
	deliverTo, err := caddy.NewReplacer().ReplaceOrErr(h.Recover.DeliverTo, true, true)
	if err != nil {
		return errors.New("payguard " + name + ": recover deliver_to: " + err.Error())
	}
	ns, err := h.recoveryNamespace()
	if err != nil {
		return err
	}
	w, err := recovery.New(recovery.Config{
		Provider: name, Namespace: ns, Store: h.app.store, Querier: oq,
		Schedule: sched, DeliverTo: deliverTo, UpstreamSecrets: secrets,
		DedupTTL: h.pipeline.DedupTTL(), ClaimLease: time.Duration(h.ClaimLease),
		Poll:   recovery.PollFor(sched),
		Audit:  h.writeRecoveryAudit,
		Count:  metrics.RecoveryCount(name),
		Logger: h.logger,
	})
	if err != nil {
		return errors.New("payguard " + name + ": " + err.Error())
	}
	h.app.recoveries.Add(ns, name, sched)
	run, stop := context.WithCancel(context.Background())
	h.recovery = &recoveryState{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(h.recovery.done)
		w.Run(run)
	}()
	return nil
}

// Cleanup stops the handler's recovery worker (config reload or exit) and
// its pipeline's writer of pending done records. Watches stay in the
// store for the next config or another instance.
func (h *Handler) Cleanup() error {
	if h.recovery != nil && h.recovery.stop != nil {
		h.recovery.stop()
		<-h.recovery.done
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
