package provider

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
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
