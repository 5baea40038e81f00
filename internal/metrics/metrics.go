// Package metrics is payguard's Prometheus collectors and the mapping of
// what the pipeline, the store and the audit sink report onto them. The
// collectors are created once per process and registered with each
// registry handed to Register, so counters survive a host's config
// reloads (Caddy's caddymodule hands it each config's registry).
//
// Labels come from bounded sets only: the provider's name, the outcome
// word, the reason code, the stage name, the store type. Never an address,
// an order number or an event id.
package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// collectors are process-wide, created on first use.
var collectors = struct {
	once          sync.Once
	notifications *prometheus.CounterVec
	stageDuration *prometheus.HistogramVec
	queryDuration *prometheus.HistogramVec
	// storeErrors and auditErrors are the app's: the shared store and
	// audit sink, whichever route used them.
	storeErrors *prometheus.CounterVec
	auditErrors prometheus.Counter
	// recoveries are lost-callback recovery's outcomes.
	recoveries *prometheus.CounterVec
}{}

// Stages run from microseconds (admit, read) to the shop's and the
// provider's round trips (forward, query): buckets from 100µs to 10s.
var stageBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func initCollectors() {
	collectors.once.Do(func() {
		const ns = "payguard"
		collectors.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns,
			Name:      "notifications_total",
			Help:      "Payment notifications handled, by provider, outcome and reason code.",
		}, []string{"provider", "outcome", "reason"})
		collectors.stageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns,
			Name:      "stage_duration_seconds",
			Help:      "Time spent in each pipeline stage, by provider and stage.",
			Buckets:   stageBuckets,
		}, []string{"provider", "stage"})
		collectors.queryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns,
			Name:      "query_duration_seconds",
			Help:      "Round trip of the reverse order query to the provider's API (cache hits excluded), by provider.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"provider"})
		collectors.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns,
			Name:      "store_errors_total",
			Help:      "Store operations that failed because the store was unavailable (each one a notification answered 503 store_unavailable, or a recovery step retried), by store type.",
		}, []string{"store"})
		collectors.auditErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns,
			Name:      "audit_errors_total",
			Help:      "Audit records that could not be written to the file or the Redis stream (each one lost).",
		})
		collectors.recoveries = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns,
			Name:      "recovery_total",
			Help:      "Lost-callback recovery outcomes, by provider and result (delivered, reported, unconfirmed, failed).",
		}, []string{"provider", "result"})
	})
}

// Handler are the collectors each payguard handler registers.
func Handler() []prometheus.Collector {
	initCollectors()
	return []prometheus.Collector{
		collectors.notifications,
		collectors.stageDuration,
		collectors.queryDuration,
	}
}

// App are the collectors the payguard app (the shared store and audit
// sink) registers.
func App() []prometheus.Collector {
	initCollectors()
	return []prometheus.Collector{collectors.storeErrors, collectors.auditErrors}
}

// Recovery are the collectors a route with lost-callback recovery
// registers.
func Recovery() []prometheus.Collector {
	initCollectors()
	return []prometheus.Collector{collectors.recoveries}
}

// RecoveryCount is recovery.Config.Count for one provider's worker: each
// outcome (delivered, reported, unconfirmed, failed) counted.
func RecoveryCount(providerName string) func(result string) {
	initCollectors()
	return func(result string) { collectors.recoveries.WithLabelValues(providerName, result).Inc() }
}

// Register registers process-wide collectors with one registry (nil: none).
// Every handler of a config registers the same ones, so a collector being
// registered already is expected; a different collector under the same
// name is an error.
func Register(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) && are.ExistingCollector == c {
				continue
			}
			return err
		}
	}
	return nil
}

// StoreErrors is the store.Observe hook of a store of type kind (memory or
// redis: the label's only values). Its series is created at once, so it is
// exposed at 0 before the first failure.
func StoreErrors(kind string) func(op string) {
	initCollectors()
	c := collectors.storeErrors.WithLabelValues(kind)
	return func(string) { c.Inc() }
}

// AuditErrors is the audit.Observe hook.
func AuditErrors() func(error) {
	initCollectors()
	c := collectors.auditErrors
	return func(error) { c.Inc() }
}

// Telemetry is one handler's pipeline.Observer: the stage histogram and a
// span per stage. It also counts notifications and times provider queries.
type Telemetry struct {
	provider string
	spans    *pipeline.SpanObserver
	stages   [pipeline.NumStages]stageSeries
}

// stageSeries is one stage's histogram series, resolved on the stage's
// first observation, once: a stage the route never runs (no query, no
// order lookup, no policy) publishes no empty series.
type stageSeries struct {
	once sync.Once
	obs  prometheus.Observer
}

// New binds the metrics to one provider.
func New(providerName string) *Telemetry {
	initCollectors()
	return &Telemetry{
		provider: providerName,
		spans:    pipeline.NewSpanObserver(providerName),
	}
}

// StageStart implements pipeline.Observer.
func (t *Telemetry) StageStart(ctx context.Context, s pipeline.Stage) context.Context {
	return t.spans.StageStart(ctx, s)
}

// StageDone implements pipeline.Observer.
func (t *Telemetry) StageDone(ctx context.Context, s pipeline.Stage, d time.Duration, code reason.Code) {
	if int(s) < len(t.stages) {
		ss := &t.stages[s]
		ss.once.Do(func() {
			ss.obs = collectors.stageDuration.WithLabelValues(t.provider, s.String())
		})
		ss.obs.Observe(d.Seconds())
	}
	t.spans.StageDone(ctx, s, d, code)
}

// NotificationDone counts one notification by its outcome and reason.
func (t *Telemetry) NotificationDone(res *pipeline.Result) {
	collectors.notifications.WithLabelValues(t.provider, string(res.Outcome), string(res.Code)).Inc()
}

// TimeQueries wraps q so each call to the provider's query API is timed.
// The pipeline's query cache sits in front of it: cache hits and
// collapsed concurrent queries make no call and are not counted.
func (t *Telemetry) TimeQueries(q provider.Querier) provider.Querier {
	if q == nil {
		return nil
	}
	return &timedQuerier{q: q, hist: collectors.queryDuration.WithLabelValues(t.provider)}
}

type timedQuerier struct {
	q    provider.Querier
	hist prometheus.Observer
}

func (tq *timedQuerier) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	start := time.Now()
	res, err := tq.q.QueryOrder(ctx, n)
	tq.hist.Observe(time.Since(start).Seconds())
	return res, err
}

var (
	_ pipeline.Observer = (*Telemetry)(nil)
	_ provider.Querier  = (*timedQuerier)(nil)
)
