package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/payguard/payguard/internal/sim"
)

// runProfile drives payguard (or, with -cpuprofile-plain, plain Caddy)
// alone in closed loop for o.profileFor and takes a CPU profile of its
// process meanwhile, from Caddy's admin
// /debug/pprof/profile, into o.profile: where the time goes through a real
// Caddy, which the in-process benchmarks cannot show (the forward, the
// log line, the store's round trips).
//
//	go run ./bench/load -scenarios stripe-redis -cpuprofile /tmp/stripe-redis.pprof
//	go tool pprof -top /tmp/stripe-redis.pprof
func runProfile(o options, sc scenario, w io.Writer) error {
	if o.profilePlain {
		var err error
		if o.plainAdminPort, err = freePort(); err != nil {
			return err
		}
	}
	run, err := startGuardAlone(&o, sc, "pf")
	if err != nil {
		return err
	}
	defer run.st.close()
	guard, port, who := run.guard, o.adminPort, "payguard"
	if o.profilePlain {
		pool, err := presign(run.p, 256, run.tag+"p-", "")
		if err != nil {
			return err
		}
		guard = &target{name: "plain", srv: run.st.plain, url: run.st.plain.URL() + "/", client: newClient(o.conns), pool: pool, check: checkPlain, cycle: true}
		if _, err := guard.closedLoop(o.conns, 200*time.Millisecond); err != nil {
			return err
		}
		port, who = o.plainAdminPort, "plain Caddy"
	}
	secs := int(o.profileFor / time.Second)
	if secs < 1 {
		secs = 1
	}
	got := make(chan error, 1)
	go func() {
		got <- fetchProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, secs), o.profile)
	}()
	s, err := guard.closedLoop(o.conns, time.Duration(secs)*time.Second+500*time.Millisecond)
	if err != nil {
		return err
	}
	if err := <-got; err != nil {
		return err
	}
	sum := summarize(guard, []slice{s})
	fmt.Fprintf(w, "== profile %s (store %s): %s alone, closed loop, %d in flight, %.0f req/s, cpu/req %.0f µs; %s\n  CPU profile of %d s in %s (go tool pprof -top %s)\n",
		sc.name, storeName(sc), who, o.conns, sum.rate, float64(sum.cpuPerReq.Microseconds()), uptime(), secs, o.profile, o.profile)
	return nil
}

func fetchProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile: %s: %s", resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// guardAlone is payguard's stack for the modes that drive it alone (soak,
// profile): the stack, its warmed target, the provider that signs for it
// and the tag its notifications' ids start with.
type guardAlone struct {
	st    *stack
	guard *target
	p     *sim.Provider
	tag   string
}

// startGuardAlone starts sc's stack with Caddy's admin API on a free port
// (o.adminPort) and a warmed payguard target of o.pool pre-signed
// notifications.
func startGuardAlone(o *options, sc scenario, tagPrefix string) (*guardAlone, error) {
	p, err := loadProvider(o.keys, sc.provider)
	if err != nil {
		return nil, err
	}
	if o.adminPort, err = freePort(); err != nil {
		return nil, err
	}
	st, err := startStack(*o, sc, p)
	if err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("%s%x-", tagPrefix, time.Now().UnixNano())
	pool, err := st.signFor(sc, p, o.pool, tag+"c-")
	if err != nil {
		st.close()
		return nil, err
	}
	guard := &target{name: "payguard", srv: st.guard, url: st.guard.URL() + "/", client: newClient(o.conns), pool: pool, check: checkForwarded}
	if _, err := guard.closedLoop(o.conns, 200*time.Millisecond); err != nil {
		st.close()
		return nil, err
	}
	return &guardAlone{st: st, guard: guard, p: p, tag: tag}, nil
}
