package pipeline

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/payguard/payguard/internal/reason"
)

// TracerName is the instrumentation name of payguard's spans.
const TracerName = "payguard"

// The span attributes. Values come from bounded sets only: never a body,
// a signature, a key, an address, an order number or an event id.
const (
	AttrProvider = attribute.Key("payguard.provider")
	AttrStage    = attribute.Key("payguard.stage")
	AttrReason   = attribute.Key("payguard.reason")
)

// SpanObserver is an Observer that records one OpenTelemetry span per
// stage, named "payguard.<stage>", as a child of the span in the request's
// context. The tracer comes from that span's own TracerProvider, so the
// stages go wherever the server sends the request span (Caddy's `tracing`
// directive installs no global provider). Without a recording parent span
// it records nothing and costs a context lookup per stage.
type SpanObserver struct {
	provider attribute.KeyValue
	stages   [NumStages]stageSpan
}

type stageSpan struct {
	name  string
	attrs trace.SpanStartEventOption
}

// NewSpanObserver returns a SpanObserver whose spans carry providerName.
func NewSpanObserver(providerName string) *SpanObserver {
	o := &SpanObserver{provider: AttrProvider.String(providerName)}
	for i := range o.stages {
		s := Stage(i)
		o.stages[i] = stageSpan{
			name:  "payguard." + s.String(),
			attrs: trace.WithAttributes(o.provider, AttrStage.String(s.String())),
		}
	}
	return o
}

// StageStart starts the stage's span under the span in ctx.
func (o *SpanObserver) StageStart(ctx context.Context, stage Stage) context.Context {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() || int(stage) >= NumStages {
		return ctx
	}
	ss := &o.stages[stage]
	ctx, _ = parent.TracerProvider().Tracer(TracerName).Start(ctx, ss.name, ss.attrs)
	return ctx
}

// StageDone ends the stage's span. A stage that ended the notification
// carries its reason; one that refused or failed it also has the error
// status, so a trace shows at a glance where a notification stopped.
func (o *SpanObserver) StageDone(ctx context.Context, stage Stage, _ time.Duration, code reason.Code) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() || int(stage) >= NumStages {
		return
	}
	if code != "" {
		span.SetAttributes(AttrReason.String(string(code)))
		if code != reason.Forwarded && code != reason.Duplicate {
			span.SetStatus(codes.Error, string(code))
		}
	}
	span.End()
}

var _ Observer = (*SpanObserver)(nil)
