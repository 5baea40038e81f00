package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The soak: payguard alone, in open loop at half its own closed-loop peak
// (or -soak-rate: on a shared machine half the peak of a quiet moment can
// be more than a busy one allows), for o.soak, with its resident set (/proc) and its goroutine count and
// heap (the Go collector on Caddy's admin /metrics) sampled after every
// chunk. Notifications are signed chunk by chunk, so a long run needs no
// pool of millions; a provider that signs cheaply (HMAC: stripe) keeps the
// harness's own signing off the two cores.
const soakChunk = 10 * time.Second

// soakSample is the server's state at one moment of the soak.
type soakSample struct {
	at         time.Duration
	rssMiB     float64
	goroutines int
	heapMiB    float64
	sent       int
}

func runSoak(o options, sc scenario, w io.Writer) error {
	run, err := startGuardAlone(&o, sc, "sk")
	if err != nil {
		return err
	}
	defer run.st.close()
	st, guard, p, tag := run.st, run.guard, run.p, run.tag
	var peak []slice
	for range 3 {
		s, err := guard.closedLoop(o.conns, o.slice)
		if err != nil {
			return err
		}
		peak = append(peak, s)
	}
	top := summarize(guard, peak).rate
	rate := top / 2
	if o.soakRate > 0 {
		rate = o.soakRate
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", o.adminPort)
	fmt.Fprintf(w, "== soak %s (store %s): payguard alone, open loop at %.0f req/s (%.2f of its closed-loop peak %.0f req/s) for %s; %s\n",
		sc.name, storeName(sc), rate, rate/top, top, o.soak, uptime())
	fmt.Fprintf(w, "  %8s %10s %10s %10s %10s\n", "time", "sent", "RSS MiB", "heap MiB", "goroutines")
	var samples []soakSample
	sample := func(at time.Duration, sent int) error {
		s, err := sampleServer(guard.srv.cmd.Process.Pid, metrics)
		if err != nil {
			return err
		}
		s.at, s.sent = at, sent
		samples = append(samples, s)
		fmt.Fprintf(w, "  %8s %10d %10.1f %10.1f %10d\n", at.Round(time.Second), sent, s.rssMiB, s.heapMiB, s.goroutines)
		return nil
	}
	start, sent := time.Now(), 0
	var cpu time.Duration
	for chunk := 0; time.Since(start) < o.soak; chunk++ {
		if guard.pool, err = st.signFor(sc, p, int(rate*soakChunk.Seconds())+16, fmt.Sprintf("%s%d-", tag, chunk)); err != nil {
			return err
		}
		guard.next.Store(0)
		// A shared machine stalls for seconds at times: the soak allows
		// five seconds of backlog before it calls the rate unsustainable.
		s, err := guard.openLoop(rate, soakChunk, max(o.inFlight, int(5*rate)))
		if err != nil {
			return err
		}
		sent += s.n
		cpu += s.cpu
		if err := sample(time.Since(start), sent); err != nil {
			return err
		}
	}
	// Idle: what is left once the load stops is what a leak would keep.
	time.Sleep(2 * time.Second)
	if err := sample(time.Since(start), sent); err != nil {
		return err
	}
	printSoak(w, samples, cpu, sent)
	fmt.Fprintf(w, "  load after: %s\n", uptime())
	return nil
}

// printSoak compares the first minute with the last one, and gives the
// extremes and the idle state at the end.
func printSoak(w io.Writer, ss []soakSample, cpu time.Duration, sent int) {
	if len(ss) < 2 {
		return
	}
	load := ss[:len(ss)-1]
	n := max(1, min(len(load)/2, int(time.Minute/soakChunk)))
	avg := func(part []soakSample) (rss, heap, gr float64) {
		for _, s := range part {
			rss, heap, gr = rss+s.rssMiB, heap+s.heapMiB, gr+float64(s.goroutines)
		}
		k := float64(len(part))
		return rss / k, heap / k, gr / k
	}
	r0, h0, g0 := avg(load[:n])
	r1, h1, g1 := avg(load[len(load)-n:])
	minG, maxG, maxR := load[0].goroutines, load[0].goroutines, load[0].rssMiB
	for _, s := range load {
		minG, maxG, maxR = min(minG, s.goroutines), max(maxG, s.goroutines), max(maxR, s.rssMiB)
	}
	idle := ss[len(ss)-1]
	fmt.Fprintf(w, "  first %d samples: RSS %.1f MiB, heap %.1f MiB, %.0f goroutines; last %d: RSS %.1f MiB, heap %.1f MiB, %.0f goroutines\n",
		n, r0, h0, g0, n, r1, h1, g1)
	fmt.Fprintf(w, "  under load: goroutines %d..%d, RSS max %.1f MiB; idle after: RSS %.1f MiB, heap %.1f MiB, %d goroutines; %d notifications, cpu/req %.0f µs\n",
		minG, maxG, maxR, idle.rssMiB, idle.heapMiB, idle.goroutines, sent, float64(cpu.Microseconds())/float64(max(sent, 1)))
}

// sampleServer reads pid's resident set and, from its metrics endpoint,
// the Go runtime's goroutine count and heap in use.
func sampleServer(pid int, metricsURL string) (soakSample, error) {
	var s soakSample
	rss, err := procStatusKB(pid, "VmRSS:")
	if err != nil {
		return s, err
	}
	s.rssMiB = float64(rss) / 1024
	resp, err := http.Get(metricsURL)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	var seen int
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			s.goroutines, seen = int(v), seen|1
		case "go_memstats_heap_inuse_bytes":
			s.heapMiB, seen = v/(1<<20), seen|2
		}
	}
	if seen != 3 {
		return s, errors.New("no go_goroutines / go_memstats_heap_inuse_bytes on " + metricsURL)
	}
	return s, nil
}

// procStatusKB reads one "Name: N kB" line of /proc/pid/status.
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no " + field + " in /proc status")
}
