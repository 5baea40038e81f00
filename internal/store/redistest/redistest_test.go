package redistest

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	c := s.NewClient(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if s.URL() != "redis://"+addr+"/0" {
		t.Errorf("URL %q", s.URL())
	}

	s.Stop()
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("port still open after Stop")
	}
	s.Stop() // stopping a stopped server is harmless

	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	// The server saves nothing, so a restart is a crash that lost all data.
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k after restart = %d, %v; want 0, nil", n, err)
	}
}

func TestStartTLS(t *testing.T) {
	s := StartTLS(t)
	if !strings.HasPrefix(s.URL(), "rediss://") {
		t.Errorf("URL %q", s.URL())
	}
	if err := s.NewClient(t).Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart() // TLS servers restart with the same certificate
	if err := s.ping(); err != nil {
		t.Fatal(err)
	}
}

// recorder stands in for testing.TB to observe Fatalf and Skip.
type recorder struct {
	testing.TB
	fatal, skipped string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) SkipNow() { r.skipped = "SkipNow"; runtime.Goexit() }

func TestMissingServerFailsLoudly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(r)
	}()
	<-done
	if r.skipped != "" {
		t.Fatalf("Start skipped: %s", r.skipped)
	}
	if !strings.Contains(r.fatal, "redis-server is not on PATH") {
		t.Fatalf("Start without redis-server: Fatalf(%q)", r.fatal)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	cl := c.NewClient(t)
	ctx := context.Background()
	// Keys spread over all three masters; each must be reachable.
	for i := range 30 {
		k := fmt.Sprint("key", i)
		if err := cl.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	for _, s := range c.Servers {
		n, err := s.NewClient(t).DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("node %s holds no keys: slots not spread", s.Addr())
		}
	}
}

func TestSentinel(t *testing.T) {
	sn := StartSentinel(t, 2)
	if len(sn.Addrs()) != 2 || sn.MasterName() != "mymaster" {
		t.Fatalf("Addrs %v, MasterName %q", sn.Addrs(), sn.MasterName())
	}
	for _, a := range sn.Addrs() {
		if a == sn.Master().Addr() {
			t.Fatalf("a sentinel listens on the master's address %s", a)
		}
	}
	// The failover client finds the master through a sentinel and writes
	// to it.
	cl := sn.NewClient(t)
	ctx := context.Background()
	if err := cl.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := sn.Master().NewClient(t).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET k on the master = %q, %v", v, err)
	}
	// Sentinels are not masters: they refuse data commands.
	if err := sn.Sentinels()[0].NewClient(t).Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Fatal("a sentinel accepted SET")
	}
}

func TestSentinelMissingServerFailsLoudly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartSentinel(r, 1)
	}()
	<-done
	if r.skipped != "" {
		t.Fatalf("StartSentinel skipped: %s", r.skipped)
	}
	if !strings.Contains(r.fatal, "redis-server is not on PATH") {
		t.Fatalf("StartSentinel without redis-server: Fatalf(%q)", r.fatal)
	}
}
