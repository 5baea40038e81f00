package caddymodule

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payguard/payguard/internal/metrics"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
)

// registerMetrics registers the handler's process-wide collectors with
// this config's registry (ctx.GetMetricsRegistry() is a fresh one per
// config load), as Caddy's reverse_proxy does: counters survive reloads.
func registerMetrics(reg *prometheus.Registry) error {
	return metrics.Register(reg, metrics.Handler()...)
}

// telemetry is one handler's metrics.Telemetry under the names handler.go
// calls it by.
type telemetry struct{ *metrics.Telemetry }

func newTelemetry(providerName string) *telemetry {
	return &telemetry{metrics.New(providerName)}
}

func (t *telemetry) notificationDone(res *pipeline.Result) { t.NotificationDone(res) }

func (t *telemetry) timeQueries(q provider.Querier) provider.Querier { return t.TimeQueries(q) }
