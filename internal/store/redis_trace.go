package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// TraceRedis instruments c with go-redis's own OpenTelemetry tracing
// (redisotel): each command becomes a client span, named after the
// command (evalsha, xadd, ...), under the span of the context it is called
// with, in that span's own TracerProvider (the pipeline's stage spans, in
// turn under Caddy's request span; Caddy installs no global provider).
//
// Spans carry the server's address and the command name, never its
// arguments (keys hold event ids and order numbers, XADD a whole audit
// record): redisotel's statement and caller attributes are off.
//
// A command whose context holds no recording span costs one context
// lookup and one map lookup, no allocation: redisotel's hook starts a span
// only for the commands a gate hook ahead of it saw under a recording
// span. Call it once per client, before the client is used.
func TraceRedis(c redis.UniversalClient) error {
	g := &traceGate{}
	c.AddHook(g)
	opts := []redisotel.TracingOption{
		redisotel.WithTracerProvider(spanTracerProvider{}),
		redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false),
		redisotel.WithCommandFilter(g.skip),
		redisotel.WithCommandsFilter(g.skipPipeline),
	}
	return redisotel.InstrumentTracing(c, opts...)
}

// traceGate marks the commands issued under a recording span; redisotel's
// filters skip every other one before it builds anything. On a Cluster
// client the gate runs in the cluster's hooks and redisotel in each
// node's, on the same command.
type traceGate struct {
	traced sync.Map // redis.Cmder → struct{}, while the command runs
}

func recording(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() }

func (g *traceGate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *traceGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !recording(ctx) {
			return next(ctx, cmd)
		}
		g.traced.Store(cmd, struct{}{})
		defer g.traced.Delete(cmd)
		return next(ctx, cmd)
	}
}

func (g *traceGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || !recording(ctx) {
			return next(ctx, cmds)
		}
		g.traced.Store(cmds[0], struct{}{})
		defer g.traced.Delete(cmds[0])
		return next(ctx, cmds)
	}
}

// skip is redisotel's command filter: true leaves the command untraced.
// AUTH and HELLO stay untraced whatever the context (redisotel's default).
func (g *traceGate) skip(cmd redis.Cmder) bool {
	if _, ok := g.traced.Load(cmd); !ok {
		return true
	}
	return redisotel.DefaultCommandFilter(cmd)
}

func (g *traceGate) skipPipeline(cmds []redis.Cmder) bool {
	if len(cmds) == 0 {
		return true
	}
	if _, ok := g.traced.Load(cmds[0]); !ok {
		return true
	}
	for _, c := range cmds {
		if redisotel.DefaultCommandFilter(c) {
			return true
		}
	}
	return false
}

// spanTracerProvider hands out tracers that start each span in the
// TracerProvider of the span already in the context, as the pipeline's
// stage spans do; without one, the span is a no-op.
type spanTracerProvider struct{ embedded.TracerProvider }

func (spanTracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return spanTracer{name: name, opts: opts}
}

type spanTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t spanTracer) Start(ctx context.Context, spanName string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(t.name, t.opts...).Start(ctx, spanName, opts...)
}
