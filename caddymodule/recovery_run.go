package caddymodule

import (
	"cmp"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
)

// recoveryState is a handler's part of recovery: its worker (recover
// block) or its watch route (mode watch).
type recoveryState struct {
	stop  context.CancelFunc
	done  chan struct{}
	watch *recovery.WatchRoute
}

var recoveryMetric = struct {
	once  sync.Once
	total *prometheus.CounterVec
}{}

func registerRecoveryMetric(reg *prometheus.Registry) error {
	recoveryMetric.once.Do(func() {
		recoveryMetric.total = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "payguard", Name: "recovery_total",
			Help: "Lost-callback recovery outcomes, by provider and result (delivered, reported, unconfirmed, failed).",
		}, []string{"provider", "result"})
	})
	if reg == nil {
		return nil
	}
	if err := reg.Register(recoveryMetric.total); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) || are.ExistingCollector != recoveryMetric.total {
			return err
		}
	}
	return nil
}

// provisionWatch sets up a mode watch route: no provider is built.
func (h *Handler) provisionWatch() error {
	name := h.provider.spec.Name
	if err := h.checkRecoveryConfig(h.provider); err != nil {
		return err
	}
	allow, err := parseAllowIPs(h.AllowIPs)
	if err != nil {
		return err
	}
	tok, err := h.provider.watchOpts.resolveToken()
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

// resolveToken reads watch_token (placeholders resolved) or
// watch_token_file.
func (w watchOptions) resolveToken() ([]byte, error) {
	repl := caddy.NewReplacer()
	if w.token != "" {
		v, err := repl.ReplaceOrErr(w.token, true, true)
		if err != nil {
			return nil, errors.New("watch_token: " + err.Error())
		}
		return []byte(v), nil
	}
	path, err := repl.ReplaceOrErr(w.tokenFile, true, true)
	if err != nil {
		return nil, errors.New("watch_token_file: " + err.Error())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.New("watch_token_file: cannot read " + path)
	}
	return []byte(strings.TrimSpace(string(b))), nil
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
	if err := registerRecoveryMetric(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	sched, _ := recoverySchedule(h.Recover)
	deliverTo, err := caddy.NewReplacer().ReplaceOrErr(h.Recover.DeliverTo, true, true)
	if err != nil {
		return errors.New("payguard " + name + ": recover deliver_to: " + err.Error())
	}
	ns, err := h.recoveryNamespace()
	if err != nil {
		return err
	}
	counter := recoveryMetric.total
	w, err := recovery.New(recovery.Config{
		Provider: name, Namespace: ns, Store: h.app.store, Querier: oq,
		Schedule: sched, DeliverTo: deliverTo, UpstreamSecrets: secrets,
		DedupTTL: h.pipeline.DedupTTL(), ClaimLease: time.Duration(h.ClaimLease),
		Poll:   pollFor(sched),
		Audit:  h.writeRecoveryAudit,
		Count:  func(result string) { counter.WithLabelValues(name, result).Inc() },
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

// pollFor looks for due watches often enough for the first offset: a
// quarter of it, between 10ms and 5s.
func pollFor(sched []time.Duration) time.Duration {
	p := sched[0] / 4
	return min(max(p, 10*time.Millisecond), recovery.DefaultPoll)
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
