package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/payguard/payguard/internal/store/redistest"
)

// checkTraced runs a claim on a traced client: under a recording span
// each Redis command is a client span, child of that span, without the
// command's arguments; without one, nothing is recorded.
func checkTraced(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	if err := TraceRedis(c); err != nil {
		t.Fatal(err)
	}
	s := NewRedis(c, uniquePrefix())
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	if _, err := s.ClaimEvent(context.Background(), "ns", "untraced-evt", time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without a span in the context", n)
	}

	ctx, parent := tp.Tracer("test").Start(context.Background(), "payguard.claim")
	if _, err := s.ClaimEvent(ctx, "ns", "traced-evt-77", time.Minute); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var redisSpans int
	for _, sp := range exp.GetSpans() {
		if sp.Name == "payguard.claim" {
			continue
		}
		redisSpans++
		if sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the claim span", sp.Name)
		}
		if sp.SpanKind != trace.SpanKindClient {
			t.Errorf("%s: kind %v", sp.Name, sp.SpanKind)
		}
		for _, kv := range sp.Attributes {
			if kv.Key == "db.statement" || strings.Contains(kv.Value.Emit(), "traced-evt-77") {
				t.Errorf("%s carries the command's arguments: %s=%s", sp.Name, kv.Key, kv.Value.Emit())
			}
		}
	}
	if redisSpans == 0 {
		t.Fatalf("no Redis span under the claim span: %v", exp.GetSpans())
	}
}

func TestTraceRedisStandalone(t *testing.T) {
	srv := redistest.Start(t)
	checkTraced(t, srv.NewClient(t))
}

func TestTraceRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 1)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = c.Close() })
	checkTraced(t, c)
}

// TestTraceRedisFreeWhenOff: a traced client allocates no more per
// command than a plain one while no span records.
func TestTraceRedisFreeWhenOff(t *testing.T) {
	srv := redistest.Start(t)
	plain, traced := srv.NewClient(t), srv.NewClient(t)
	if err := TraceRedis(traced); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allocs := func(c *redis.Client) float64 {
		if err := c.Ping(ctx).Err(); err != nil { // connect first
			t.Fatal(err)
		}
		return testing.AllocsPerRun(200, func() { _ = c.Ping(ctx).Err() })
	}
	if p, tr := allocs(plain), allocs(traced); tr > p {
		t.Fatalf("a command allocates %v times traced, %v plain", tr, p)
	}
}
