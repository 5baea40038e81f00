package recovery

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// Routes tells the routes of one configuration which (namespace,
// provider) pairs have a `recover` block, and their schedules: a return
// route or a pending notification starts a watch only where a worker will
// take it, and a notification is guarded only where one may recover it.
type Routes struct {
	mu        sync.Mutex
	schedules map[string][]time.Duration
}

// Add registers a recover route's pair.
func (r *Routes) Add(ns, providerName string, schedule []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.schedules == nil {
		r.schedules = map[string][]time.Duration{}
	}
	r.schedules[ns+"\x00"+providerName] = schedule
}

// Schedule is the pair's schedule; false: no recover route for it.
func (r *Routes) Schedule(ns, providerName string) ([]time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.schedules[ns+"\x00"+providerName]
	return s, ok
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	Provider string
	Store    store.Store
	Routes   *Routes
	// Passthrough: the route is a return route (never acknowledged); each
	// verified request starts a watch.
	Passthrough bool
	// Lease bounds the hold of a transaction's delivery record while the
	// shop answers: the route's forward_timeout and claim_lease, so it
	// outlasts every forward the pipeline waits for.
	Lease  time.Duration
	Logger *zap.Logger
}

// Guard is recovery's pipeline.Hook on a route of a recoverable provider
// (DESIGN.md section 11): before a paid notification is forwarded it
// claims the transaction's delivery record, so the recovery worker cannot
// deliver the same payment meanwhile (and a payment already delivered as
// recovered is a duplicate); afterwards it starts and ends watches.
type Guard struct {
	cfg GuardConfig
}

var _ pipeline.Hook = (*Guard)(nil)

// NewGuard fills cfg's defaults.
func NewGuard(cfg GuardConfig) *Guard {
	if cfg.Lease <= 0 {
		cfg.Lease = pipeline.DefaultForwardTimeout + pipeline.DefaultClaimLease
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Guard{cfg: cfg}
}

// Guards implements pipeline.Hook: a notification of ns is guarded only
// where a recover route may recover its payment, the condition
// BeforeForward checks too.
func (g *Guard) Guards(ns string) bool {
	_, ok := g.cfg.Routes.Schedule(ns, g.cfg.Provider)
	return ok
}

// BeforeForward implements pipeline.Hook.
func (g *Guard) BeforeForward(ctx context.Context, ns string, n *notification.Notification) (pipeline.Guard, error) {
	if n.Status != notification.StatusPaid || n.TransactionID == "" {
		return pipeline.Guard{}, nil
	}
	if !g.Guards(ns) {
		return pipeline.Guard{}, nil // no recover route: nothing can be recovered
	}
	c, err := g.cfg.Store.ClaimDelivery(ctx, ns, n.TransactionID, store.SourceNotify, n.EventID, g.cfg.Lease)
	switch {
	case err != nil:
		return pipeline.Guard{}, reason.Wrap(reason.StoreUnavailable, err, "claim the transaction's delivery")
	case c.State == store.TxnClaimed:
		return pipeline.Guard{Hold: &pipeline.Hold{TransactionID: n.TransactionID, Token: c.Token,
			Provider: g.cfg.Provider, OutTradeNo: n.OutTradeNo}}, nil
	case c.State == store.TxnInFlight:
		// A recovered delivery (or another notification of it) is at the
		// shop: the provider's retry finds it delivered or released.
		return pipeline.Guard{}, reason.New(reason.InFlight, "transaction %s is being delivered (%s)", n.TransactionID, c.Source)
	case c.Source == store.SourceRecovered || c.EventID == n.EventID:
		// Recovered before the provider's own notification came, or this
		// very event (its claim lapsed before its done record was written).
		return pipeline.Guard{Duplicate: true}, nil
	}
	// Another notification of the transaction was delivered: the shop
	// gets this one as it always did.
	return pipeline.Guard{}, nil
}

// After implements pipeline.Hook: a verified return or pending
// notification starts a watch (where a recover route takes it); a
// delivered paid, refunded or closed notification ends it.
func (g *Guard) After(ctx context.Context, ns string, res *pipeline.Result) {
	n := res.Notification
	if n == nil || n.OutTradeNo == "" || (res.Outcome != pipeline.OutcomeForwarded && res.Outcome != pipeline.OutcomeDuplicate) {
		return
	}
	sched, recovering := g.cfg.Routes.Schedule(ns, g.cfg.Provider)
	if !recovering {
		return
	}
	var err error
	switch {
	case g.cfg.Passthrough || n.Status == notification.StatusPending:
		// A return (even one the query confirmed paid: the shop's page
		// says so, but the notification may still be lost) or a pending
		// notification.
		_, err = g.cfg.Store.WatchOrder(ctx, ns, store.Watch{Provider: g.cfg.Provider, OutTradeNo: n.OutTradeNo, Since: time.Now()}, WatchTTL(sched))
	case n.Status == notification.StatusPaid, n.Status == notification.StatusRefunded, n.Status == notification.StatusClosed:
		err = g.cfg.Store.EndWatch(ctx, ns, g.cfg.Provider, n.OutTradeNo)
	}
	if err != nil {
		g.cfg.Logger.Warn("recovery: watch not updated", zap.String("provider", g.cfg.Provider),
			zap.String("out_trade_no", n.OutTradeNo), zap.Error(err))
	}
}
