package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serveEnv, set in a child's environment, makes this binary (or the test
// binary of this package) run Caddy instead of the load tool: the harness
// needs no separate build of payguard, and the child links exactly the
// modules payguard's own command links.
const serveEnv = "PAYGUARD_LOAD_SERVE"

// freePort returns a loopback port nobody listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// server is one Caddy process (plain reverse_proxy or payguard) listening
// on one loopback port.
type server struct {
	name string
	port int
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// URL is the server's base address.
func (s *server) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// startServer writes caddyfile into dir and runs bin with it (bin "" is
// this executable re-executed as Caddy), waiting until the port answers.
func startServer(bin, dir, name, caddyfile string, port int) (*server, error) {
	cf := filepath.Join(dir, name+".Caddyfile")
	if err := os.WriteFile(cf, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	env := os.Environ()
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
		env = append(env, serveEnv+"=1")
	}
	cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{name: name, port: port, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := waitListening(port, s.done, 60*time.Second); err != nil {
		s.kill()
		return nil, fmt.Errorf("%s: %v (log: %s)", name, err, tail(logf.Name()))
	}
	return s, nil
}

// kill ends the process at once (SIGKILL: also the fault harness's crash).
func (s *server) kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
	s.log.Close()
}

// waitListening polls until something accepts on port, the process exits,
// or the bound passes.
func waitListening(port int, exited <-chan struct{}, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before listening")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s after %s", addr, bound)
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// procStat is a process's CPU time so far (user + system).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc stat times")
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// machineCPU is the CPU time every process on the machine has spent so
// far (all CPUs' non-idle time in /proc/stat), in USER_HZ ticks.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("unreadable /proc/stat")
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errors.New("unreadable /proc/stat times")
		}
		busy += n
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(busy) * time.Second / ticks, nil
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	kb, err := procStatusKB(pid, "VmHWM:")
	return kb * 1024, err
}

// redisServer is a redis-server of the harness's own on a free port.
type redisServer struct {
	port  int
	dir   string
	extra []string
	cmd   *exec.Cmd
	done  chan struct{}
}

// startRedis runs redis-server on a free loopback port, by default with no
// persistence; extra adds directives ("--appendonly", "yes").
func startRedis(dir string, extra ...string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{port: port, dir: dir, extra: extra}
	return r, r.launch()
}

func (r *redisServer) launch() error {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("redis-server is not on PATH: %v", err)
	}
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--maxmemory-policy", "noeviction"}, r.extra...)
	r.cmd = exec.Command("redis-server", args...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	r.done = done
	cmd := r.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	return waitListening(r.port, done, 30*time.Second)
}

// URL is the store URL payguard is configured with.
func (r *redisServer) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

// stop kills redis-server (every key is lost: no persistence).
func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// shopHandler answers every forwarded notification the way every legacy
// handler payguard can front accepts: 200 "success".
func okShop() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 4096)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("success"))
	})
}
