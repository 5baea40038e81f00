package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// TestRegisterOncePerRegistry: the same process-wide collectors register
// with each new registry (a config reload) and again with the same one
// (every handler of a config); a different collector under a payguard
// name is refused; a nil registry is no registry.
func TestRegisterOncePerRegistry(t *testing.T) {
	for i := 0; i < 2; i++ {
		reg := prometheus.NewRegistry()
		for j := 0; j < 2; j++ {
			if err := Register(reg, Handler()...); err != nil {
				t.Fatalf("registry %d, time %d: %v", i, j, err)
			}
			if err := Register(reg, App()...); err != nil {
				t.Fatalf("registry %d, time %d (app): %v", i, j, err)
			}
		}
	}
	reg := prometheus.NewRegistry()
	if err := Register(reg, Handler()...); err != nil {
		t.Fatal(err)
	}
	impostor := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "payguard", Name: "notifications_total", Help: "x"}, []string{"provider", "outcome", "reason"})
	if err := Register(reg, impostor); err == nil {
		t.Fatal("a different collector under payguard_notifications_total was registered")
	}
	if err := Register(nil, Handler()...); err != nil {
		t.Fatalf("nil registry: %v", err)
	}
}

// TestTelemetryMapsTheResult: stage durations go to the stage's series
// under the provider's name (only stages that ran have one); each
// notification counts once by outcome and reason.
func TestTelemetryMapsTheResult(t *testing.T) {
	const prov = "metrics-test-telemetry"
	tel := New(prov)
	ctx := context.Background()
	for _, s := range []pipeline.Stage{pipeline.StageAdmit, pipeline.StageVerify, pipeline.StageVerify} {
		sctx := tel.StageStart(ctx, s)
		tel.StageDone(sctx, s, time.Millisecond, "")
	}
	tel.StageDone(ctx, pipeline.Stage(200), time.Millisecond, "") // out of range: no series, no panic
	hist := collectors.stageDuration
	if n := histCount(t, hist, prov, "verify"); n != 2 {
		t.Errorf("verify observed %d times, want 2", n)
	}
	if n := histCount(t, hist, prov, "admit"); n != 1 {
		t.Errorf("admit observed %d times, want 1", n)
	}
	if n := seriesOf(t, hist, prov); n != 2 {
		t.Errorf("%d stage series for %s, want 2 (admit, verify)", n, prov)
	}

	res := &pipeline.Result{Outcome: pipeline.OutcomeRejected, Code: reason.Code("bad_signature")}
	tel.NotificationDone(res)
	tel.NotificationDone(res)
	if v := value(t, collectors.notifications.WithLabelValues(prov, string(pipeline.OutcomeRejected), "bad_signature")); v != 2 {
		t.Errorf("notifications_total = %v, want 2", v)
	}
}

type fakeQuerier struct {
	res *provider.QueryResult
	err error
}

func (f fakeQuerier) QueryOrder(context.Context, *notification.Notification) (*provider.QueryResult, error) {
	return f.res, f.err
}

// TestTimeQueries: each call through the wrapper is one observation, its
// answer and error unchanged; no querier stays none.
func TestTimeQueries(t *testing.T) {
	const prov = "metrics-test-query"
	tel := New(prov)
	if tel.TimeQueries(nil) != nil {
		t.Fatal("TimeQueries(nil) is not nil: a route without a query would get one")
	}
	want := &provider.QueryResult{}
	q := tel.TimeQueries(fakeQuerier{res: want})
	if got, err := q.QueryOrder(context.Background(), nil); got != want || err != nil {
		t.Fatalf("QueryOrder = %v, %v", got, err)
	}
	boom := errors.New("down")
	if _, err := tel.TimeQueries(fakeQuerier{err: boom}).QueryOrder(context.Background(), nil); err != boom {
		t.Fatalf("error = %v, want %v", err, boom)
	}
	if n := histCount(t, collectors.queryDuration, prov); n != 2 {
		t.Errorf("query_duration observed %d times, want 2", n)
	}
}

// TestErrorHooks: the store's series exists at 0 before any failure and
// counts each one; recovery's counts each outcome under its provider; the
// audit hook counts each lost record.
func TestErrorHooks(t *testing.T) {
	hook := StoreErrors("redis")
	c := collectors.storeErrors.WithLabelValues("redis")
	before := value(t, c)
	hook("claim")
	hook("release")
	if got := value(t, c) - before; got != 2 {
		t.Errorf("store_errors_total{store=redis} rose by %v, want 2", got)
	}
	StoreErrors("memory")
	reg := prometheus.NewRegistry()
	if err := Register(reg, App()...); err != nil {
		t.Fatal(err)
	}
	if !exposed(t, reg, "payguard_store_errors_total", "store", "memory") {
		t.Error("the memory store's series is not exposed before a failure")
	}
	count := RecoveryCount("metrics-test-recovery")
	count("delivered")
	count("delivered")
	count("failed")
	if v := value(t, collectors.recoveries.WithLabelValues("metrics-test-recovery", "delivered")); v != 2 {
		t.Errorf("recovery_total{result=delivered} = %v, want 2", v)
	}
	if err := Register(reg, Recovery()...); err != nil {
		t.Fatal(err)
	}
	if !exposed(t, reg, "payguard_recovery_total", "result", "failed") {
		t.Error("recovery_total{result=failed} not exposed")
	}
	audit := AuditErrors()
	before = value(t, collectors.auditErrors)
	audit(errors.New("disk full"))
	if got := value(t, collectors.auditErrors) - before; got != 1 {
		t.Errorf("audit_errors_total rose by %v, want 1", got)
	}
}

// histCount is the sample count of one histogram series.
func histCount(t *testing.T, h *prometheus.HistogramVec, labels ...string) uint64 {
	t.Helper()
	m, err := h.GetMetricWithLabelValues(labels...)
	if err != nil {
		t.Fatal(err)
	}
	var pb dto.Metric
	if err := m.(prometheus.Metric).Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetHistogram().GetSampleCount()
}

// seriesOf counts h's series whose provider label is prov.
func seriesOf(t *testing.T, h *prometheus.HistogramVec, prov string) int {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	return len(gathered(t, reg, "payguard_stage_duration_seconds", "provider", prov))
}

// exposed says whether reg exposes a series of name with label = value.
func exposed(t *testing.T, reg *prometheus.Registry, name, label, value string) bool {
	return len(gathered(t, reg, name, label, value)) > 0
}

// gathered is reg's series of name with label = value.
func gathered(t *testing.T, reg *prometheus.Registry, name, label, value string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// value is a counter's current value.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := c.Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetCounter().GetValue()
}
