package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/payguard/payguard/internal/store/redistest"
)

// TestRedisSpansUnderTheStageSpans: on the Redis store, a traced
// notification's Redis commands are client spans whose parent is a
// payguard stage span (the claim's script under payguard.claim), with
// no command arguments; an untraced one records nothing.
func TestRedisSpansUnderTheStageSpans(t *testing.T) {
	srv := redistest.Start(t)
	var cfg caddy.Config
	if err := json.Unmarshal([]byte(fmt.Sprintf(`{
		"logging": {"logs": {"default": {"writer": {"output": "discard"}}}},
		"apps": {"payguard": {"store": {"type": "redis", "url": %q, "key_prefix": "redis-trace:"}}}
	}`, srv.URL())), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, err := caddy.ProvisionContext(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := alipayHandler(t)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	serve := func(rctx context.Context, evt string) {
		body := mustSign(t, signer(), notifyParams(evt, "redis-trace-order-"+evt, "RT-"+evt, "2.00"))
		r := httptest.NewRequest("POST", "/alipay/notify", strings.NewReader(string(body))).WithContext(rctx)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, okShop); err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || w.Header().Get("Payguard-Reason") != "forwarded" {
			t.Fatalf("%d %s", w.Code, w.Header().Get("Payguard-Reason"))
		}
	}
	serve(context.Background(), "rt-untraced")
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without a request span", n)
	}

	rctx, req := tp.Tracer("caddy").Start(context.Background(), "POST /alipay/notify")
	serve(rctx, "rt-traced")
	req.End()
	spans := exp.GetSpans()
	stages := map[trace.SpanID]string{}
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "payguard.") {
			stages[s.SpanContext.SpanID()] = s.Name
		}
	}
	under := map[string]int{}
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		stage, ok := stages[s.Parent.SpanID()]
		if !ok {
			t.Errorf("Redis span %s is not under a stage span", s.Name)
		}
		under[stage]++
		for _, kv := range s.Attributes {
			if kv.Key == "db.statement" || strings.Contains(kv.Value.Emit(), "rt-traced") {
				t.Errorf("%s carries the command: %s=%s", s.Name, kv.Key, kv.Value.Emit())
			}
		}
	}
	t.Logf("Redis spans by stage: %v", under)
	if under["payguard.claim"] == 0 {
		t.Fatalf("no Redis span under payguard.claim; Redis spans by stage: %v", under)
	}
}
