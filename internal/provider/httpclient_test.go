package provider

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// The client's timeout bounds a request whose answer never comes and one
// whose body stalls after its headers, as http.Client.Timeout did; the
// deadline ends when the body is closed, and a caller's own earlier
// deadline still wins.
func TestQueryClientTimeoutBoundsTheWholeAnswer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("part"))
			w.(http.Flusher).Flush()
		}
		// Without the client's deadline the answer would end here after
		// two seconds, and the assertions below fail instead of hanging.
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer srv.Close()
	client := NewHTTPClient(50 * time.Millisecond)
	if got := ClientTimeout(client); got != 50*time.Millisecond {
		t.Fatalf("ClientTimeout %v", got)
	}

	_, err := client.Get(srv.URL + "/headers")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a request whose answer never comes: %v, want the deadline", err)
	}

	resp, err := client.Get(srv.URL + "/body")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a body that stalls read to its end")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/headers", nil)
	if _, err := NewHTTPClient(time.Hour).Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller's canceled context: %v", err)
	}
}

// A finished answer's deadline ends with its body: the next request on
// the kept connection is not cut by the earlier one's timer.
func TestQueryClientDeadlineEndsWithTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	client := NewHTTPClient(time.Hour)
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("%q, %v", b, err)
		}
	}
	if got := ClientTimeout(&http.Client{Timeout: time.Second}); got != time.Second {
		t.Fatalf("ClientTimeout of a plain client %v", got)
	}
}
