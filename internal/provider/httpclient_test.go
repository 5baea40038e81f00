package provider

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// Concurrent queries to one provider host keep their connections: a
// second burst as wide as the first opens none (Go's default transport
// keeps two idle per host, so a burst of 16 used to close 14 and dial
// them again, a TLS handshake each against a real provider).
func TestQueryClientKeepsConnectionsOfConcurrentQueries(t *testing.T) {
	const width = 16
	var dialed atomic.Int64
	arrived := make(chan struct{}, width)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release // every query of a burst is in flight at once
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewHTTPClient(0)
	burst := func() {
		var wg sync.WaitGroup
		for range width {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		for range width {
			<-arrived
		}
		for range width {
			release <- struct{}{}
		}
		wg.Wait()
	}
	burst()
	first := dialed.Load()
	if first != width {
		t.Fatalf("the first burst opened %d connections, want %d (one per query in flight)", first, width)
	}
	burst()
	if again := dialed.Load() - first; again != 0 {
		t.Fatalf("the second burst opened %d new connections, want 0: idle connections were dropped", again)
	}
}

// A query made inside a trace carries its traceparent; one outside goes
// without. The caller's request is never changed.
func TestQueryClientPropagatesTraceContext(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Traceparent")
	}))
	defer srv.Close()
	client := NewHTTPClient(0)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	for _, c := range []struct {
		ctx  context.Context
		want string
	}{
		{context.Background(), ""},
		{trace.ContextWithSpanContext(context.Background(), sc), "00-01020300000000000000000000000000-0405060000000000-01"},
	} {
		req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if h := <-got; h != c.want {
			t.Errorf("traceparent %q, want %q", h, c.want)
		}
		if len(req.Header) != 0 {
			t.Errorf("the caller's request was changed: %v", req.Header)
		}
	}
}
