package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/payguard/payguard/caddymodule"
)

// provisionedHandler provisions a payguard alipay handler in a config of
// its own (its own store key and metrics registry), without serving: the
// test calls ServeHTTP itself.
func provisionedHandler(t *testing.T) (*caddymodule.Handler, caddy.Context) {
	t.Helper()
	ctx := provisionContext(t)
	h := alipayHandler(t)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return h, ctx
}

// alipayHandler is an unprovisioned handler for the test keys' Alipay.
func alipayHandler(t *testing.T) *caddymodule.Handler {
	t.Helper()
	keysFor(t)
	return &caddymodule.Handler{ProviderRaw: json.RawMessage(fmt.Sprintf(
		`{"name":"alipay","app_id":"2021000000000001","public_key_file":%q}`, testKeys.alipayPubFile))}
}

// provisionContext is a config's context, as Caddy makes one per load:
// the payguard app on a memory store of its own, and a fresh metrics
// registry.
func provisionContext(t *testing.T) caddy.Context {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal([]byte(`{
		"logging": {"logs": {"default": {"writer": {"output": "discard"}}}},
		"apps": {"payguard": {"store": {"type": "memory", "key_prefix": "trace-test:"}}}
	}`), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, err := caddy.ProvisionContext(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// okShop is a legacy Alipay handler that took the notification.
var okShop = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(200)
	_, _ = w.Write([]byte("success"))
	return nil
})

// TestStageSpansUnderTheRequestSpan: the handler takes its tracer from the
// request's span, as under Caddy's tracing directive, and every stage span
// is that span's child, carrying only provider, stage and reason.
func TestStageSpansUnderTheRequestSpan(t *testing.T) {
	h, _ := provisionedHandler(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	body := mustSign(t, signer(), notifyParams("trace-evt-1", "trace-order-1", "TT1", "12.34"))
	ctx, req := tp.Tracer("caddy").Start(context.Background(), "POST /alipay/notify")
	r := httptest.NewRequest("POST", "/alipay/notify", strings.NewReader(string(body))).WithContext(ctx)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, okShop); err != nil {
		t.Fatal(err)
	}
	req.End()
	if w.Code != 200 || w.Header().Get("Payguard-Reason") != "forwarded" {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Payguard-Reason"))
	}

	var names []string
	for _, s := range exp.GetSpans() {
		if s.Name == "POST /alipay/notify" {
			continue
		}
		names = append(names, s.Name)
		if s.Parent.SpanID() != req.SpanContext().SpanID() || s.SpanContext.TraceID() != req.SpanContext().TraceID() {
			t.Errorf("%s is not a child of the request span", s.Name)
		}
		if s.Status.Code == codes.Error {
			t.Errorf("%s: status %v", s.Name, s.Status)
		}
		for _, kv := range s.Attributes {
			switch kv.Key {
			case "payguard.provider", "payguard.stage", "payguard.reason":
			default:
				t.Errorf("%s: unexpected attribute %s", s.Name, kv.Key)
			}
			if v := kv.Value.Emit(); strings.Contains(v, "trace-") || strings.Contains(v, "TT1") || strings.Contains(v, "192.0.2") {
				t.Errorf("%s: %s carries request data %q", s.Name, kv.Key, v)
			}
		}
	}
	want := "payguard.admit payguard.read payguard.verify payguard.fresh payguard.claim payguard.forward payguard.acknowledge"
	if strings.Join(names, " ") != want {
		t.Fatalf("stage spans %v, want %s", names, want)
	}

	// Without a span in the request (no tracing directive): no-op, and the
	// notification is handled all the same.
	exp.Reset()
	body = mustSign(t, signer(), notifyParams("trace-evt-2", "trace-order-2", "TT2", "1.00"))
	r = httptest.NewRequest("POST", "/alipay/notify", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w = httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, okShop); err != nil || w.Code != 200 {
		t.Fatalf("without tracing: %d %v", w.Code, err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without a request span", n)
	}
}

// counterValue gathers one payguard_notifications_total sample from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, outcome, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "payguard_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labels(m)
			if l["provider"] == "alipay" && l["outcome"] == outcome && l["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// TestMetricsRegistration: handlers of one config share the collectors in
// its registry; another config's registry gets the same collectors; a
// foreign collector under payguard's name is a provisioning error.
func TestMetricsRegistration(t *testing.T) {
	h, ctx := provisionedHandler(t)
	reg := ctx.GetMetricsRegistry()
	second := alipayHandler(t)
	if err := second.Provision(ctx); err != nil {
		t.Fatalf("a second handler in the same config: %v", err)
	}

	start := counterValue(t, reg, "rejected", "bad_signature")
	tampered := strings.Replace(string(mustSign(t, signer(), notifyParams("reg-evt", "reg-order", "RT1", "10.00"))),
		"total_amount=10.00", "total_amount=0.01", 1)
	for _, hh := range []*caddymodule.Handler{h, second} {
		r := httptest.NewRequest("POST", "/alipay/notify", strings.NewReader(tampered))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w := httptest.NewRecorder()
		if err := hh.ServeHTTP(w, r, okShop); err != nil {
			t.Fatal(err)
		}
		if w.Code != 401 {
			t.Fatalf("tampered notification: %d %s", w.Code, w.Header().Get("Payguard-Reason"))
		}
	}
	if got := counterValue(t, reg, "rejected", "bad_signature") - start; got != 2 {
		t.Fatalf("two rejections counted as %v in the config's registry", got)
	}

	// A new config: a fresh registry with the same, still counting,
	// collectors.
	_, ctx2 := provisionedHandler(t)
	if got, was := counterValue(t, ctx2.GetMetricsRegistry(), "rejected", "bad_signature"), counterValue(t, reg, "rejected", "bad_signature"); got != was || got < 2 {
		t.Fatalf("the next config's registry has %v, the first %v", got, was)
	}

	// Someone else's collector under payguard's name: with another help
	// text, or one identical to payguard's (AlreadyRegisteredError, but not
	// with payguard's collector).
	for _, help := range []string{"not payguard's", "Payment notifications handled, by provider, outcome and reason code."} {
		ctx3 := provisionContext(t)
		ctx3.GetMetricsRegistry().MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payguard_notifications_total", Help: help,
		}, []string{"provider", "outcome", "reason"}))
		if err := alipayHandler(t).Provision(ctx3); err == nil || !strings.Contains(err.Error(), "registering metrics") {
			t.Fatalf("a conflicting collector (help %q): %v", help, err)
		}
	}
}
