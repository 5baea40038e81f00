// Package recovery is payguard's lost-callback recovery (DESIGN.md section
// 11): it asks the provider's query API, at a schedule's offsets, about
// orders payguard saw (a return, a pending notification, the shop's own
// registration) but never got a paid notification for, and delivers a
// payment the provider confirms to the shop once, or reports it.
//
// The watched orders and their due times live in the store, so a fleet
// shares them: each due watch is taken by one instance under a lease, and
// a watch whose instance died is due again when its lease runs out. The
// package knows nothing of Caddy; caddymodule starts one Worker per route
// with a `recover` block.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// Results, the `result` label of payguard_recovery_total.
const (
	// Delivered: a recovered payment reached deliver_to and the shop took it.
	Delivered = "delivered"
	// Reported: a recovered payment was written to the audit and the log
	// only (no deliver_to).
	Reported = "reported"
	// Unconfirmed: the watch ended without a payment to recover.
	Unconfirmed = "unconfirmed"
	// Failed: a query or a delivery failed; retried at the next offset.
	Failed = "failed"
)

// EventPrefix starts a recovered payment's event id: recovered:<transaction_id>.
const EventPrefix = "recovered:"

// Defaults.
const (
	// DefaultWatchLease is how long a taken watch is held. It must outlast
	// one query and one delivery; an instance that dies holding watches
	// delays them by at most this much.
	DefaultWatchLease = 2 * time.Minute
	// DefaultPoll is how often a worker looks for due watches.
	DefaultPoll = 5 * time.Second
	// DefaultDeliverTimeout bounds one delivery to deliver_to.
	DefaultDeliverTimeout = 30 * time.Second
	// batch is how many due watches one poll takes.
	batch = 32
)

// DefaultSchedule is section 11's example schedule.
var DefaultSchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// Config configures a Worker.
type Config struct {
	Provider  string // the provider name
	Namespace string // the route's order namespace
	Store     store.Store
	Querier   provider.OrderQuerier
	// Schedule holds ascending offsets from when an order was first seen.
	Schedule []time.Duration
	// DeliverTo is where recovered payments go; empty: report only.
	DeliverTo string
	// UpstreamSecrets sign deliveries in the Standard Webhooks format.
	UpstreamSecrets [][]byte
	// Client delivers; nil: provider.NewHTTPClient(DefaultDeliverTimeout)
	// (no redirects, bounded answer).
	Client     *http.Client
	DedupTTL   time.Duration // the delivered transaction and the claim's memory; default 72h
	ClaimLease time.Duration // the recovered claim's lease; default 30s
	WatchLease time.Duration // default DefaultWatchLease
	Poll       time.Duration // default DefaultPoll
	Now        func() time.Time
	// Audit writes one record per recovered or ended watch.
	Audit func(context.Context, *audit.Record)
	// Count is the metrics hook: one call per outcome, with a result word.
	Count  func(result string)
	Logger *zap.Logger
}

// Worker runs one route's recovery.
type Worker struct {
	cfg     Config
	queries singleflight.Group
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Worker, error) {
	if cfg.Provider == "" || cfg.Namespace == "" || cfg.Store == nil || cfg.Querier == nil {
		return nil, errors.New("recovery: provider, namespace, store and an order querier are required")
	}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule
	}
	for i, d := range cfg.Schedule {
		if d <= 0 || (i > 0 && d <= cfg.Schedule[i-1]) {
			return nil, fmt.Errorf("recovery: schedule offsets must be positive and ascending, got %v", cfg.Schedule)
		}
	}
	if cfg.Client == nil {
		cfg.Client = provider.NewHTTPClient(DefaultDeliverTimeout)
	}
	if cfg.DedupTTL <= 0 {
		cfg.DedupTTL = pipeline.DefaultDedupTTL
	}
	if cfg.ClaimLease <= 0 {
		cfg.ClaimLease = pipeline.DefaultClaimLease
	}
	if cfg.WatchLease <= 0 {
		cfg.WatchLease = DefaultWatchLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Audit == nil {
		cfg.Audit = func(context.Context, *audit.Record) {}
	}
	if cfg.Count == nil {
		cfg.Count = func(string) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Worker{cfg: cfg}, nil
}

// deliverTimeout bounds one delivery: the client's timeout.
func (w *Worker) deliverTimeout() time.Duration {
	if t := provider.ClientTimeout(w.cfg.Client); t > 0 {
		return t
	}
	return DefaultDeliverTimeout
}

// WatchTTL is how long a watch may wait in the store for a worker: the
// schedule's last offset and a day's margin, so that watches of a route
// whose recovery was switched off do not stay forever.
func WatchTTL(schedule []time.Duration) time.Duration {
	if len(schedule) == 0 {
		schedule = DefaultSchedule
	}
	return schedule[len(schedule)-1] + 24*time.Hour
}

// Run polls for due watches until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		w.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Start runs the worker in a goroutine of its own; stop ends it and
// returns once it has ended (the host's config reload or exit).
func (w *Worker) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Tick takes the watches due now and handles each; it returns how many it
// took. A store that cannot be reached is logged and tried at the next
// tick: the watches stay where they are.
func (w *Worker) Tick(ctx context.Context) int {
	taken := 0
	for ctx.Err() == nil {
		ws, err := w.cfg.Store.TakeDueWatches(ctx, w.cfg.Namespace, w.cfg.Provider, w.cfg.Now(), w.cfg.WatchLease, batch)
		if err != nil {
			w.cfg.Logger.Warn("recovery: cannot take due watches", zap.String("provider", w.cfg.Provider), zap.Error(err))
			return taken
		}
		for _, wt := range ws {
			w.handle(ctx, wt)
		}
		taken += len(ws)
		if len(ws) < batch {
			return taken
		}
	}
	return taken
}

// handle runs one due watch: wait for its offset, query, and act on the
// answer.
func (w *Worker) handle(ctx context.Context, wt store.Watch) {
	now := w.cfg.Now()
	sched := w.cfg.Schedule
	if wt.Attempt >= len(sched) {
		w.unconfirmed(ctx, wt, nil, "", "schedule exhausted")
		return
	}
	if due := wt.Since.Add(sched[wt.Attempt]); now.Before(due) {
		w.reschedule(ctx, wt, due)
		return
	}
	// Offsets that passed while no instance ran are not made up for: one
	// query now stands for all of them.
	for wt.Attempt+1 < len(sched) && !now.Before(wt.Since.Add(sched[wt.Attempt+1])) {
		wt.Attempt++
	}
	res, err := w.query(ctx, wt)
	switch {
	case reason.CodeOf(err, "") == reason.QueryMismatch:
		// The provider does not know the order yet: the buyer has not
		// reached its cashier. Not paid, so far.
		w.next(ctx, wt, nil)
	case err != nil:
		w.cfg.Count(Failed)
		w.cfg.Logger.Warn("recovery: query failed, retried at the next offset",
			zap.String("provider", w.cfg.Provider), zap.String("out_trade_no", wt.OutTradeNo), zap.Error(err))
		w.next(ctx, wt, nil)
	case res.Status == notification.StatusPaid:
		w.recover(ctx, wt, res)
	case res.Status == notification.StatusClosed, res.Status == notification.StatusRefunded, res.Status == notification.StatusFailed:
		w.unconfirmed(ctx, wt, res, "", "order "+string(res.Status))
	default:
		w.next(ctx, wt, res)
	}
}

// query asks the provider about the watched order, one call per order in
// this process at a time (singleflight, as the query stage), never cached:
// each offset must see the order as it is now.
func (w *Worker) query(ctx context.Context, wt store.Watch) (*provider.QueryResult, error) {
	v, err, _ := w.queries.Do(wt.OutTradeNo, func() (any, error) {
		qctx := provider.WithOrderHints(ctx, wt.Hints)
		res, err := w.cfg.Querier.QueryByOrderNo(qctx, wt.OutTradeNo)
		if err == nil && res == nil {
			err = reason.New(reason.QueryUnavailable, "provider query returned nothing")
		}
		return res, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*provider.QueryResult), nil
}

// next moves the watch to its next offset, or ends it unconfirmed when the
// schedule is exhausted.
func (w *Worker) next(ctx context.Context, wt store.Watch, last *provider.QueryResult) {
	wt.Attempt++
	if wt.Attempt >= len(w.cfg.Schedule) {
		w.unconfirmed(ctx, wt, last, "", "schedule exhausted")
		return
	}
	w.reschedule(ctx, wt, wt.Since.Add(w.cfg.Schedule[wt.Attempt]))
}

func (w *Worker) reschedule(ctx context.Context, wt store.Watch, due time.Time) {
	held, err := w.cfg.Store.RescheduleWatch(ctx, w.cfg.Namespace, wt, due)
	if err != nil {
		// The lease runs out and the watch is due again: nothing is lost.
		w.cfg.Logger.Warn("recovery: cannot reschedule a watch", zap.String("out_trade_no", wt.OutTradeNo), zap.Error(err))
	} else if !held {
		w.cfg.Logger.Debug("recovery: watch taken over or ended meanwhile", zap.String("out_trade_no", wt.OutTradeNo))
	}
}

func (w *Worker) end(ctx context.Context, wt store.Watch) {
	if err := w.cfg.Store.EndWatch(ctx, w.cfg.Namespace, w.cfg.Provider, wt.OutTradeNo); err != nil {
		w.cfg.Logger.Warn("recovery: cannot end a watch", zap.String("out_trade_no", wt.OutTradeNo), zap.Error(err))
	}
}

// unconfirmed ends the watch with an unconfirmed record.
func (w *Worker) unconfirmed(ctx context.Context, wt store.Watch, res *provider.QueryResult, code reason.Code, why string) {
	w.end(ctx, wt)
	w.cfg.Count(Unconfirmed)
	rec := w.record(wt, res, audit.Unconfirmed, code)
	w.cfg.Audit(ctx, rec)
	w.cfg.Logger.Info("recovery: watch ended unconfirmed", zap.String("provider", w.cfg.Provider),
		zap.String("out_trade_no", wt.OutTradeNo), zap.String("reason", string(code)), zap.String("detail", why))
}

func (w *Worker) record(wt store.Watch, res *provider.QueryResult, outcome audit.Outcome, code reason.Code) *audit.Record {
	rec := &audit.Record{
		Time: w.cfg.Now(), Provider: w.cfg.Provider, OutTradeNo: wt.OutTradeNo,
		Amount: wt.Amount, Currency: wt.Currency, Outcome: outcome, Reason: code,
	}
	if res != nil {
		rec.Query = res
		rec.TransactionID, rec.Status = res.TransactionID, string(res.Status)
		if !wt.HasAmount {
			rec.Amount, rec.Currency = res.Amount, res.Currency
		}
	}
	return rec
}
