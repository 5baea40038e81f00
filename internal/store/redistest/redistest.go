// Package redistest starts throwaway redis-server processes for tests: one
// server on a free port, stoppable and restartable on the same port to test
// outages, optionally over TLS, a small Redis Cluster, and a master watched
// by Redis Sentinel.
//
// It is an ordinary (non-test) package so that the tests of every package
// can import it. redis-server must be on PATH; when it is not, Start fails
// the test loudly instead of skipping it, because a skipped store test would
// pass CI without testing anything (.ci/run installs redis-server).
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a server may take to answer its first PING.
// It takes milliseconds normally; the bound is generous because a CI
// machine running many test binaries at once can stall a start for seconds.
const startTimeout = 30 * time.Second

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	port int
	dir  string
	args []string
	tls  *tls.Config // client config when the server listens with TLS only
	// sentinelConf, when set, makes this a Sentinel: the text of the
	// config file written to dir before the first launch (see
	// StartSentinel).
	sentinelConf string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncBuffer
}

// Start runs `redis-server --port N --bind 127.0.0.1 --save "" --appendonly
// no` on a free port N, plus extraArgs (config directives, e.g.
// "--requirepass", "secret"), waits until it answers PING and stops it when
// the test ends.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	return start(t, nil, 0, extraArgs)
}

func start(t testing.TB, clientTLS *tls.Config, portGap int, extraArgs []string) *Server {
	t.Helper()
	return startServer(t, &Server{args: extraArgs, tls: clientTLS}, portGap)
}

// startServer launches s (its args, tls and sentinelConf set by the
// caller) on a free port and kills it when the test ends.
func startServer(t testing.TB, s *Server, portGap int) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redistest: redis-server is not on PATH (%v); install it (apt-get install redis-server, brew install redis) — the Redis store tests need a real server and do not skip", err)
	}
	s.t, s.dir = t, t.TempDir()
	t.Cleanup(s.kill)
	// Another process may take the free port between our probe and
	// redis-server's bind; try a few ports before giving up.
	var lastErr error
	for range 5 {
		s.port = freePort(t, portGap)
		if lastErr = s.launch(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: could not start redis-server: %v", lastErr)
	return nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// URL is the server's redis:// (or, for StartTLS, rediss://) URL, database 0.
func (s *Server) URL() string {
	if s.tls != nil {
		return "rediss://" + s.Addr() + "/0"
	}
	return "redis://" + s.Addr() + "/0"
}

// TLSConfig is a client configuration trusting the server's test CA, nil
// for a plain server.
func (s *Server) TLSConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

// NewClient returns a go-redis client for the server, closed when the test
// ends.
func (s *Server) NewClient(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: s.TLSConfig()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server (SIGKILL: a crash, not a shutdown) and returns once
// its port refuses connections.
func (s *Server) Stop() {
	s.t.Helper()
	s.kill()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: port %d still open after stopping redis-server", s.port)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port (empty: it saves
// nothing) and waits until it answers PING. It stops a running server first.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		s.t.Fatalf("redistest: restart on port %d: %v", s.port, err)
	}
}

// Freeze suspends the server (SIGSTOP): connections are still accepted by
// the kernel but nothing is answered, like a hung or partitioned server.
// Thaw resumes it; the test's cleanup kills a frozen server as well.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: server on port %d is not running", s.port)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signal %v: %v", sig, err)
	}
}

// Output is what the server wrote to stdout and stderr (for failure messages).
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

func (s *Server) launch() error {
	args := []string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--loglevel", "warning",
	}
	if s.sentinelConf != "" {
		conf, err := s.writeSentinelConf()
		if err != nil {
			return err
		}
		// redis-server in sentinel mode is what redis-sentinel (often
		// not installed) links to. The command line's directives follow
		// the file's, so --port wins over a port the sentinel rewrote
		// into it; persistence directives are not for sentinels.
		args = []string{conf, "--sentinel",
			"--bind", "127.0.0.1",
			"--dir", s.dir,
			"--loglevel", "warning",
		}
	}
	if s.tls != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.port))
	} else {
		args = append(args, "--port", strconv.Itoa(s.port))
	}
	args = append(args, s.args...)
	cmd := exec.Command("redis-server", args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("redis-server exited at start: %s", strings.TrimSpace(out.String()))
		default:
		}
		if s.ping() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", s.port, startTimeout, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping speaks just enough RESP to see the server answer. Any reply counts,
// an error reply included (NOAUTH when the test set a password): the server
// is up.
func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if s.tls != nil {
		cfg := s.tls.Clone()
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(context.Background()); err != nil {
			return err
		}
		c = tc
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line == "" || (line[0] != '+' && line[0] != '-') {
		return fmt.Errorf("unexpected PING reply %q", line)
	}
	return nil
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// freePort returns a port nothing listens on. With gap > 0, port+gap must be
// free as well (a cluster node's bus port is port+10000).
func freePort(t testing.TB, gap int) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if gap == 0 {
			_ = l.Close()
			return port
		}
		if port+gap > 65535 {
			_ = l.Close()
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+gap)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = l2.Close()
		return port
	}
	t.Fatalf("redistest: no free port pair %d apart", gap)
	return 0
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
