package caddymodule

import (
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payguard/payguard/internal/metrics"
)

// metricInfo is one registered payguard metric: its variable labels, and
// whether it is a histogram (exposed as _bucket, _sum and _count).
type metricInfo struct {
	labels    map[string]bool
	histogram bool
}

var descFields = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// registeredMetrics describes every collector payguard registers: each
// handler's, the app's and recovery's.
func registeredMetrics(t *testing.T) map[string]metricInfo {
	t.Helper()
	cs := append(append(metrics.Handler(), metrics.App()...), metrics.Recovery()...)
	out := map[string]metricInfo{}
	for _, c := range cs {
		_, hist := c.(*prometheus.HistogramVec)
		ch := make(chan *prometheus.Desc, 4)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := descFields.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			info := metricInfo{labels: map[string]bool{}, histogram: hist}
			for _, l := range strings.Split(m[2], ",") {
				if l != "" {
					info.labels[l] = true
				}
			}
			out[m[1]] = info
		}
	}
	if len(out) < 6 {
		t.Fatalf("only %d metrics registered: %v", len(out), out)
	}
	return out
}
