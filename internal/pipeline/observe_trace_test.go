package pipeline

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/payguard/payguard/internal/reason"
)

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

func TestSpanObserverChildrenOfTheRequestSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	p, _ := newPipeline(t, func(c *Config) { c.Observer = NewSpanObserver("fake") })

	// The request's span comes from the server's provider: the stages must
	// find that provider through it, with no global one installed.
	ctx, req := tp.Tracer("server").Start(context.Background(), "POST /notify")
	expect(t, p.Handle(ctx, post(msg("evt-secret-1", "order-secret-1", "t", 1234)), (&shop{}).forward), 200, reason.Forwarded)
	bad, _ := json.Marshal(fakeMsg{ID: "evt-secret-2", Sig: "bad"})
	expect(t, p.Handle(ctx, post(bad), (&shop{}).forward), 401, reason.BadSignature)
	req.End()

	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == "POST /notify" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != req.SpanContext().SpanID() || s.SpanContext().TraceID() != req.SpanContext().TraceID() {
			t.Errorf("%s: parent %s, want the request span %s", s.Name(), s.Parent().SpanID(), req.SpanContext().SpanID())
		}
		if s.InstrumentationScope().Name != TracerName {
			t.Errorf("%s: tracer %q", s.Name(), s.InstrumentationScope().Name)
		}
		a := spanAttrs(s)
		if a[AttrProvider] != "fake" || "payguard."+a[AttrStage] != s.Name() {
			t.Errorf("%s: attributes %v", s.Name(), a)
		}
		for k, v := range a {
			if k != AttrProvider && k != AttrStage && k != AttrReason {
				t.Errorf("%s: unexpected attribute %s=%s", s.Name(), k, v)
			}
			if strings.Contains(v, "secret") {
				t.Errorf("%s: %s carries request data: %s", s.Name(), k, v)
			}
		}
		switch s.Name() {
		case "payguard.acknowledge":
			if a[AttrReason] != "forwarded" || s.Status().Code == codes.Error {
				t.Errorf("acknowledge: %v %v", a, s.Status())
			}
		case "payguard.verify":
			// verify passes once and refuses once
		default:
			if _, ok := a[AttrReason]; ok {
				t.Errorf("%s passed but carries a reason: %v", s.Name(), a)
			}
		}
	}
	want := "payguard.admit payguard.read payguard.verify payguard.fresh payguard.claim payguard.forward payguard.acknowledge " +
		"payguard.admit payguard.read payguard.verify"
	if strings.Join(names, " ") != want {
		t.Fatalf("spans %v\nwant %s", names, want)
	}
	refused := rec.Ended()[len(rec.Ended())-2] // the second verify; the request span ended last
	if refused.Name() != "payguard.verify" || spanAttrs(refused)[AttrReason] != "bad_signature" ||
		refused.Status().Code != codes.Error || refused.Status().Description != "bad_signature" {
		t.Fatalf("refusing stage: %s %v %v", refused.Name(), spanAttrs(refused), refused.Status())
	}
}

func TestSpanObserverWithoutARecordingParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	p, _ := newPipeline(t, func(c *Config) { c.Observer = NewSpanObserver("fake") })

	// No span at all (no tracing directive): the no-op provider.
	expect(t, p.Handle(context.Background(), post(msg("e1", "o", "t", 1)), (&shop{}).forward), 200, reason.Forwarded)
	// A sampled-out request span: its stages are not recorded either.
	ctx, req := tp.Tracer("server").Start(context.Background(), "POST /notify")
	if req.IsRecording() {
		t.Fatal("the sampler recorded the request span")
	}
	var seen trace.Span
	forward := func(ctx context.Context, out *Outgoing) (Answer, error) {
		seen = trace.SpanFromContext(ctx)
		return Answer{Status: 200}, nil
	}
	expect(t, p.Handle(ctx, post(msg("e2", "o", "t", 1)), forward), 200, reason.Forwarded)
	req.End()
	if n := len(rec.Started()); n != 0 {
		t.Fatalf("%d spans started", n)
	}
	if seen.SpanContext().SpanID() != req.SpanContext().SpanID() {
		t.Fatal("the forward did not run under the request's span")
	}
}
