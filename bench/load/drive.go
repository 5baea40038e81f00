package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one server under load: where to post, what a real success
// looks like, and the notifications it is fed (each used once: a second
// copy would be a duplicate, not a new notification).
type target struct {
	name   string
	srv    *server
	redis  *redisServer // the store's redis-server, whose CPU is counted apart; nil without
	url    string
	client *http.Client
	pool   []signed
	next   atomic.Int64
	cycle  bool // reuse the pool round robin (plain Caddy does not deduplicate)
	check  func(*http.Response, []byte) error
}

// slice is what one time slice of load did on one target.
type slice struct {
	n       int
	elapsed time.Duration
	cpu     time.Duration
	machine time.Duration // every process's CPU on the machine meanwhile
	redis   time.Duration // the target's redis-server's CPU meanwhile
	lat     []time.Duration
}

// errPoolEmpty ends a slice early: the pre-signed notifications ran out.
var errPoolEmpty = errors.New("pre-signed notifications used up")

func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// one posts the target's next notification and checks the answer.
func (t *target) one() error {
	i := t.next.Add(1) - 1
	if t.cycle {
		i %= int64(len(t.pool))
	}
	if int(i) >= len(t.pool) {
		return errPoolEmpty
	}
	req, err := request(t.url, t.pool[i].msg)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %v", t.name, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %v", t.name, err)
	}
	if err := t.check(resp, body); err != nil {
		return fmt.Errorf("%s: notification %s: %v", t.name, t.pool[i].order.OutTradeNo, err)
	}
	return nil
}

// closedLoop keeps conns requests in flight for d (or until the pool runs
// out) and measures what completed.
func (t *target) closedLoop(conns int, d time.Duration) (slice, error) {
	cpu0, _ := procCPU(t.srv.cmd.Process.Pid)
	machine0, _ := machineCPU()
	redis0 := t.redisCPU()
	start := time.Now()
	stop := start.Add(d)
	var mu sync.Mutex
	var s slice
	var first error
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				err := t.one()
				if errors.Is(err, errPoolEmpty) {
					break
				}
				if err != nil {
					mu.Lock()
					first = cmp(first, err)
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			s.lat = append(s.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	s.elapsed = time.Since(start)
	s.n = len(s.lat)
	cpu1, _ := procCPU(t.srv.cmd.Process.Pid)
	machine1, _ := machineCPU()
	s.cpu, s.machine, s.redis = cpu1-cpu0, machine1-machine0, t.redisCPU()-redis0
	return s, first
}

// openLoop sends at rate per second for d, each request at its scheduled
// time whatever the earlier ones are doing, and measures latency from the
// scheduled time (so a stall is not hidden by the sender waiting for it).
func (t *target) openLoop(rate float64, d time.Duration, maxInFlight int) (slice, error) {
	cpu0, _ := procCPU(t.srv.cmd.Process.Pid)
	machine0, _ := machineCPU()
	redis0 := t.redisCPU()
	start := time.Now()
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	var mu sync.Mutex
	var s slice
	var first error
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		select {
		case sem <- struct{}{}:
		default:
			wg.Wait()
			return s, fmt.Errorf("%s: %d requests in flight at %.0f req/s: the server cannot keep this rate", t.name, maxInFlight, rate)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := t.one()
			l := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				first = cmp(first, err)
				return
			}
			s.lat = append(s.lat, l)
		}()
	}
	wg.Wait()
	s.elapsed = time.Since(start)
	s.n = len(s.lat)
	cpu1, _ := procCPU(t.srv.cmd.Process.Pid)
	machine1, _ := machineCPU()
	s.cpu, s.machine, s.redis = cpu1-cpu0, machine1-machine0, t.redisCPU()-redis0
	return s, first
}

// redisCPU is the target's redis-server's CPU so far, 0 without one.
func (t *target) redisCPU() time.Duration {
	if t.redis == nil {
		return 0
	}
	d, _ := procCPU(t.redis.cmd.Process.Pid)
	return d
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// summary folds a target's slices.
type summary struct {
	n         int
	rate      float64 // req/s over the slices' time
	rates     []float64
	p50, p99  time.Duration
	p999      time.Duration
	cpuPerReq time.Duration
	// machinePerReq is the whole machine's CPU per request: the server,
	// the load tool, the shop and redis-server. On two shared cores it is
	// what throughput is bound by, so plain's over payguard's is about
	// the throughput ratio, and it says whose CPU a gap is.
	machinePerReq time.Duration
	redisPerReq   time.Duration // the store's redis-server alone; 0 without one
	peakRSSMiB    float64
}

func summarize(t *target, ss []slice) summary {
	var sum summary
	var elapsed, cpu, machine, redis time.Duration
	var lat []time.Duration
	for _, s := range ss {
		sum.n += s.n
		elapsed += s.elapsed
		cpu += s.cpu
		machine += s.machine
		redis += s.redis
		lat = append(lat, s.lat...)
		sum.rates = append(sum.rates, float64(s.n)/s.elapsed.Seconds())
	}
	if elapsed > 0 {
		sum.rate = float64(sum.n) / elapsed.Seconds()
	}
	if sum.n > 0 {
		sum.cpuPerReq = cpu / time.Duration(sum.n)
		sum.machinePerReq = machine / time.Duration(sum.n)
		sum.redisPerReq = redis / time.Duration(sum.n)
	}
	slices.Sort(lat)
	sum.p50, sum.p99, sum.p999 = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 0.999)
	if rss, err := peakRSS(t.srv.cmd.Process.Pid); err == nil {
		sum.peakRSSMiB = float64(rss) / (1 << 20)
	}
	return sum
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ratioSpread is the mean and the standard deviation of the per-round
// ratios a[i]/b[i] (rounds pair a slice of each server next to each other).
func ratioSpread(a, b []float64) (mean, sd float64) {
	n := min(len(a), len(b))
	if n == 0 {
		return 0, 0
	}
	rs := make([]float64, n)
	for i := range n {
		rs[i] = a[i] / b[i]
		mean += rs[i]
	}
	mean /= float64(n)
	for _, r := range rs {
		sd += (r - mean) * (r - mean)
	}
	if n > 1 {
		sd = math.Sqrt(sd / float64(n-1))
	}
	return mean, sd
}

// checkPlain: plain reverse_proxy passes the shop's answer through.
func checkPlain(resp *http.Response, body []byte) error {
	if resp.StatusCode != http.StatusOK || string(body) != "success" {
		return fmt.Errorf("answer %d %q, want the shop's 200 success", resp.StatusCode, clip(body))
	}
	return nil
}

// checkForwarded: payguard forwarded the notification and the shop took
// it; the provider's own success acknowledgement came back.
func checkForwarded(resp *http.Response, body []byte) error {
	if r := resp.Header.Get("Payguard-Reason"); r != "forwarded" {
		return fmt.Errorf("answer %d, Payguard-Reason %q, want forwarded", resp.StatusCode, r)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("forwarded but answered %d", resp.StatusCode)
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
