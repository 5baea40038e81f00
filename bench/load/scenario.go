package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sim"
)

// scenario is one provider and store configuration measured against plain
// Caddy.
type scenario struct {
	name     string
	provider string
	redis    bool
	query    bool
}

var scenarios = []scenario{
	{name: "alipay-memory", provider: "alipay"},
	{name: "alipay-redis", provider: "alipay", redis: true},
	{name: "stripe-memory", provider: "stripe"},
	{name: "stripe-redis", provider: "stripe", redis: true},
	{name: "wechatpay_v3-redis", provider: "wechatpay_v3", redis: true},
	{name: "alipay-query", provider: "alipay", query: true},
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

func scenarioByName(n string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == n {
			return s, true
		}
	}
	return scenario{}, false
}

// stack is everything one scenario runs: the shop, the sandbox (for the
// query), Redis, and the two servers.
type stack struct {
	dir     string
	shop    *http.Server
	sandbox *http.Server
	book    *sim.OrderBook
	redis   *redisServer
	plain   *server
	guard   *server
}

// signFor presigns n notifications for payguard and, in a query
// scenario, puts their orders in the sandbox's book so its query API
// answers them paid.
func (s *stack) signFor(sc scenario, p *sim.Provider, n int, tag string) ([]signed, error) {
	pool, err := presign(p, n, tag, "")
	if err != nil || !sc.query {
		return pool, err
	}
	for _, sg := range pool {
		s.book.Put(sg.order)
	}
	return pool, nil
}

func (s *stack) close() {
	for _, srv := range []*server{s.plain, s.guard} {
		if srv != nil {
			srv.kill()
		}
	}
	if s.redis != nil {
		s.redis.stop()
	}
	for _, h := range []*http.Server{s.shop, s.sandbox} {
		if h != nil {
			h.Close()
		}
	}
	os.RemoveAll(s.dir)
}

// serveLoopback serves h on a free loopback port.
func serveLoopback(h http.Handler) (*http.Server, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, l.Addr().String(), nil
}

const globalOpts = "\tadmin off\n\tauto_https off\n\tpersist_config off\n\tgrace_period 1s\n"

// handlerBlock is the payguard block of the sandbox's settings, with or
// without its query.
func handlerBlock(p *sim.Provider, sandboxURL string, query bool, extra string) (string, error) {
	var keep []provider.Setting
	for _, s := range p.Settings(sandboxURL) {
		if s.Query && !query {
			continue
		}
		keep = append(keep, s)
	}
	b, err := sim.HandlerBlock(p.Name(), keep)
	if err != nil {
		return "", err
	}
	if extra != "" {
		b = strings.Replace(b, "{\n", "{\n"+extra, 1)
	}
	return b, nil
}

func startStack(o options, sc scenario, p *sim.Provider) (*stack, error) {
	st := &stack{}
	var err error
	if st.dir, err = os.MkdirTemp("", "payguard-load-"); err != nil {
		return nil, err
	}
	fail := func(err error) (*stack, error) { st.close(); return nil, err }
	var shopAddr, sandboxAddr string
	if st.shop, shopAddr, err = serveLoopback(okShop()); err != nil {
		return fail(err)
	}
	st.book = sim.NewOrderBook()
	simSrv, err := sim.NewServer(sim.ServerConfig{Book: st.book, Providers: []*sim.Provider{p}})
	if err != nil {
		return fail(err)
	}
	if st.sandbox, sandboxAddr, err = serveLoopback(simSrv); err != nil {
		return fail(err)
	}
	global := globalOpts
	if sc.redis {
		if st.redis, err = startRedis(st.dir); err != nil {
			return fail(err)
		}
		global += "\tpayguard {\n\t\tstore redis " + st.redis.URL() + "\n\t}\n"
	}
	block, err := handlerBlock(p, "http://"+sandboxAddr, sc.query, "")
	if err != nil {
		return fail(err)
	}
	ports := [2]int{}
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return fail(err)
		}
	}
	plainGlobal := globalOpts
	if o.plainAdminPort > 0 {
		plainGlobal = strings.Replace(plainGlobal, "\tadmin off\n", fmt.Sprintf("\tadmin 127.0.0.1:%d\n", o.plainAdminPort), 1)
	}
	plainCf := fmt.Sprintf("{\n%s}\nhttp://127.0.0.1:%d {\n\treverse_proxy %s\n}\n", plainGlobal, ports[0], shopAddr)
	if o.adminPort > 0 {
		// The soak reads the Go runtime's figures from Caddy's /metrics.
		global = strings.Replace(global, "\tadmin off\n", fmt.Sprintf("\tadmin 127.0.0.1:%d\n", o.adminPort), 1)
	}
	guardCf := fmt.Sprintf("{\n%s}\nhttp://127.0.0.1:%d {\n%s\treverse_proxy %s\n}\n", global, ports[1], block, shopAddr)
	if st.plain, err = startServer(o.plainBin, st.dir, "plain", plainCf, ports[0]); err != nil {
		return fail(err)
	}
	if st.guard, err = startServer(o.bin, st.dir, "payguard", guardCf, ports[1]); err != nil {
		return fail(err)
	}
	return st, nil
}

// runScenario measures one scenario: closed loop, then the open-loop rates.
func runScenario(o options, sc scenario, w io.Writer) error {
	p, err := loadProvider(o.keys, sc.provider)
	if err != nil {
		return err
	}
	st, err := startStack(o, sc, p)
	if err != nil {
		return err
	}
	defer st.close()
	tag := fmt.Sprintf("ld%x-", time.Now().UnixNano())
	plainPool, err := presign(p, 256, tag+"p-", "")
	if err != nil {
		return err
	}
	guardPool, err := st.signFor(sc, p, o.pool, tag+"c-")
	if err != nil {
		return err
	}
	plain := &target{name: "plain", srv: st.plain, url: st.plain.URL() + "/", client: newClient(o.conns), pool: plainPool, check: checkPlain}
	guard := &target{name: "payguard", srv: st.guard, redis: st.redis, url: st.guard.URL() + "/", client: newClient(o.conns), pool: guardPool, check: checkForwarded}
	plain.cycle = true
	// Warm both (connections, JIT-free but caches and the store's pool).
	if _, err := plain.closedLoop(o.conns, 200*time.Millisecond); err != nil {
		return err
	}
	if _, err := guard.closedLoop(o.conns, 200*time.Millisecond); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== %s (store %s, query %v): closed loop, %d in flight, %d rounds of %s per server; load before: %s\n",
		sc.name, storeName(sc), sc.query, o.conns, o.rounds, o.slice, uptime())
	var signRate float64
	if sc.query {
		signRate = rsaSignRate(time.Second)
	}
	ps, gs, err := alternate(o.rounds,
		func() (slice, error) { return plain.closedLoop(o.conns, o.slice) },
		func() (slice, error) { return guard.closedLoop(o.conns, o.slice) })
	if err != nil {
		return err
	}
	pSum, gSum := summarize(plain, ps), summarize(guard, gs)
	printSummary(w, "plain", pSum)
	printSummary(w, "payguard", gSum)
	mean, sd := ratioSpread(gSum.rates, pSum.rates)
	fmt.Fprintf(w, "  payguard / plain throughput: %.2f ± %.2f (per-round mean ± sd, %d rounds)\n", mean, sd, len(gSum.rates))
	if sc.query {
		signRate = (signRate + rsaSignRate(time.Second)) / 2
		fmt.Fprintf(w, "  RSA-2048 signing rate of this machine (in process, %d goroutines): %.0f/s; payguard with query: %.2f of it\n",
			runtime.NumCPU(), signRate, gSum.rate/signRate)
		printSignCPU(w, gSum.cpuPerReq)
	}
	// With the query payguard is bound by RSA signing, far below plain
	// Caddy: its open-loop rates are fractions of its own peak instead.
	peak := pSum.rate
	if sc.query {
		peak = gSum.rate
	}
	for _, frac := range o.open {
		if err := openPhase(o, sc, p, st, plain, guard, peak*frac, frac, tag, w); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "  load after: %s\n", uptime())
	return nil
}

func openPhase(o options, sc scenario, p *sim.Provider, st *stack, plain, guard *target, rate, frac float64, tag string, w io.Writer) error {
	need := int(rate*o.slice.Seconds())*o.rounds + 16
	pool, err := st.signFor(sc, p, need, fmt.Sprintf("%so%.0f-", tag, frac*100))
	if err != nil {
		return err
	}
	guard.pool = pool
	guard.next.Store(0)
	ps, gs, err := alternate(o.rounds,
		func() (slice, error) { return plain.openLoop(rate, o.slice, o.inFlight) },
		func() (slice, error) { return guard.openLoop(rate, o.slice, o.inFlight) })
	if err != nil {
		return err
	}
	pSum, gSum := summarize(plain, ps), summarize(guard, gs)
	whose := "plain's"
	if sc.query {
		whose = "payguard's"
	}
	fmt.Fprintf(w, "  open loop at %.2f of %s peak (%.0f req/s), %d rounds of %s; load: %s\n", frac, whose, rate, o.rounds, o.slice, uptime())
	printSummary(w, "plain", pSum)
	printSummary(w, "payguard", gSum)
	fmt.Fprintf(w, "  added latency: p50 %+.2f ms, p99 %+.2f ms, p99.9 %+.2f ms\n",
		ms(gSum.p50-pSum.p50), ms(gSum.p99-pSum.p99), ms(gSum.p999-pSum.p999))
	return nil
}

// alternate runs rounds of one slice per server, swapping which goes first
// every round so neither always follows the other.
func alternate(rounds int, plainRun, guardRun func() (slice, error)) (plain, guard []slice, err error) {
	for r := range rounds {
		first, second := plainRun, guardRun
		if r%2 == 1 {
			first, second = guardRun, plainRun
		}
		a, err := first()
		if err != nil {
			return nil, nil, err
		}
		b, err := second()
		if err != nil {
			return nil, nil, err
		}
		if r%2 == 1 {
			a, b = b, a
		}
		plain, guard = append(plain, a), append(guard, b)
	}
	return plain, guard, nil
}

func printSummary(w io.Writer, name string, s summary) {
	redis := ""
	if s.redisPerReq > 0 {
		redis = fmt.Sprintf(", redis %.0f", float64(s.redisPerReq.Nanoseconds())/1e3)
	}
	fmt.Fprintf(w, "  %-9s %7d req  %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  cpu/req %5.0f µs (machine %.0f%s)  peak RSS %5.1f MiB\n",
		name, s.n, s.rate, ms(s.p50), ms(s.p99), ms(s.p999), float64(s.cpuPerReq.Nanoseconds())/1e3,
		float64(s.machinePerReq.Nanoseconds())/1e3, redis, s.peakRSSMiB)
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func storeName(sc scenario) string {
	if sc.redis {
		return "redis"
	}
	return "memory"
}

// printSignCPU compares payguard's CPU per queried notification with one
// signature's: the rate payguard would reach with the cores to itself, as
// a fraction of the signing rate. The wall-clock ratio above also pays for
// the sandbox, which verifies each query and signs its answer on the same
// two cores (two RSA operations of the four a query costs), so it cannot
// pass about one half here.
func printSignCPU(w io.Writer, guardCPU time.Duration) {
	sign, ok := rsaSignCPU(200)
	if !ok || guardCPU <= 0 {
		return
	}
	fmt.Fprintf(w, "  one RSA-2048 signature: %.0f µs of CPU (thread clock); payguard: %.0f µs of CPU per queried notification = %.2f signatures; CPU-bound rate %.2f of the signing rate\n",
		float64(sign.Nanoseconds())/1e3, float64(guardCPU.Nanoseconds())/1e3, float64(guardCPU)/float64(sign), float64(sign)/float64(guardCPU))
}

func numCPU() int { return runtime.NumCPU() }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func uptime() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
