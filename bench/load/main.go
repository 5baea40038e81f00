// Command load is payguard's own load and fault harness. It runs plain
// Caddy reverse_proxy and payguard in front of the same upstream, on
// loopback only, and drives both with pre-signed, distinct notifications
// from the providers' sandboxes (examples/keys):
//
//	go run ./bench/load                      # the default scenarios
//	go run ./bench/load -scenarios alipay-redis -rounds 10
//	go run ./bench/load -fault -fault-n 3000 # the long fault run
//	go run ./bench/load -soak 10m -scenarios stripe-redis # memory over time
//
// Closed loop (conns requests always in flight) gives peak throughput;
// open loop (a fixed rate, latency counted from each request's scheduled
// time) gives latency at a quarter and a half of plain Caddy's peak. The
// two servers alternate in short slices so machine noise hits both; the
// ratio is per round, with its spread. Any answer that is not a real
// success fails the run. bench/RESULTS.md has the figures.
//
// Both servers are this binary re-executed as Caddy with payguard's
// modules (the payguard command's), unless -bin / -plain-bin name others
// (for example a stock caddy for the baseline).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/payguard/payguard/caddymodule"
	_ "github.com/payguard/payguard/internal/provider/all"
)

type options struct {
	scenarios []string
	conns     int
	rounds    int
	slice     time.Duration
	pool      int
	open      []float64
	bin       string
	plainBin  string
	keys      string
	inFlight  int
	// soak, when set, runs the memory soak (soak.go) for that long.
	soak      time.Duration
	soakRate  float64
	adminPort int
	// profile, when set, is where runProfile writes payguard's CPU profile.
	profile    string
	profileFor time.Duration
	// profilePlain profiles plain Caddy instead, on plainAdminPort.
	profilePlain   bool
	plainAdminPort int
}

func main() {
	if os.Getenv(serveEnv) != "" {
		caddycmd.Main()
		return
	}
	var o options
	var scen, open string
	var fault bool
	var fo faultOptions
	flag.StringVar(&scen, "scenarios", "alipay-memory,alipay-redis,stripe-redis", "comma-separated: "+strings.Join(scenarioNames(), ", "))
	flag.IntVar(&o.conns, "conns", 32, "closed loop: requests in flight (keep-alive connections)")
	flag.IntVar(&o.rounds, "rounds", 8, "rounds per measurement: one slice of each server per round")
	flag.DurationVar(&o.slice, "slice", 500*time.Millisecond, "length of one server's slice")
	flag.IntVar(&o.pool, "pool", 6000, "pre-signed notifications for payguard's closed loop (a slice ends early when they run out)")
	flag.StringVar(&open, "open", "0.25,0.5", "open-loop rates as fractions of plain Caddy's closed-loop peak")
	flag.StringVar(&o.bin, "bin", "", "payguard binary (default: this program re-executed)")
	flag.StringVar(&o.plainBin, "plain-bin", "", "baseline Caddy binary (default: this program re-executed, plain reverse_proxy config)")
	flag.StringVar(&o.keys, "keys", "", "sandbox keys directory (default: examples/keys of the repository)")
	flag.IntVar(&o.inFlight, "max-in-flight", 512, "open loop: more requests outstanding than this fails the run")
	flag.BoolVar(&fault, "fault", false, "run the fault harness instead of the load scenarios")
	flag.DurationVar(&o.soak, "soak", 0, "run the memory soak for this long instead (payguard alone in open loop at half its peak; RSS and goroutines sampled)")
	flag.Float64Var(&o.soakRate, "soak-rate", 0, "the soak's fixed rate in req/s (default half of payguard's closed-loop peak, measured first)")
	flag.StringVar(&o.profile, "cpuprofile", "", "instead of the scenarios: drive payguard alone in closed loop and write its CPU profile (Caddy's /debug/pprof) to this file")
	flag.DurationVar(&o.profileFor, "cpuprofile-for", 10*time.Second, "how long -cpuprofile profiles")
	flag.BoolVar(&o.profilePlain, "cpuprofile-plain", false, "with -cpuprofile: profile plain Caddy reverse_proxy in the same stack instead of payguard, to compare the two")
	fo.register(flag.CommandLine)
	flag.Parse()
	for _, f := range strings.Split(open, ",") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil || v <= 0 || v > 1 {
			fatalf("-open: %q is not a fraction in (0, 1]", f)
		}
		o.open = append(o.open, v)
	}
	if o.keys == "" {
		root, err := repoRoot()
		if err != nil {
			fatalf("%v", err)
		}
		o.keys = root + "/examples/keys"
	}
	if fault {
		fo.keys, fo.bin = o.keys, o.bin
		rep, err := runFault(fo, os.Stdout)
		if err != nil {
			fatalf("fault: %v", err)
		}
		if err := rep.verdict(); err != nil {
			fatalf("fault: %v", err)
		}
		return
	}
	o.scenarios = strings.Split(scen, ",")
	// The modes that drive payguard alone take the first scenario.
	for _, mode := range []struct {
		on   bool
		name string
		run  func(options, scenario, io.Writer) error
	}{{o.soak > 0, "soak", runSoak}, {o.profile != "", "profile", runProfile}} {
		if !mode.on {
			continue
		}
		sc, ok := scenarioByName(strings.TrimSpace(o.scenarios[0]))
		if !ok {
			fatalf("unknown scenario %q (have %s)", o.scenarios[0], strings.Join(scenarioNames(), ", "))
		}
		if err := mode.run(o, sc, os.Stdout); err != nil {
			fatalf("%s %s: %v", mode.name, sc.name, err)
		}
		return
	}
	fmt.Printf("payguard load harness: %s, %d CPUs (%s), load: %s\n",
		time.Now().UTC().Format(time.RFC3339), numCPU(), cpuModel(), uptime())
	for _, name := range o.scenarios {
		sc, ok := scenarioByName(strings.TrimSpace(name))
		if !ok {
			fatalf("unknown scenario %q (have %s)", name, strings.Join(scenarioNames(), ", "))
		}
		if err := runScenario(o, sc, os.Stdout); err != nil {
			fatalf("%s: %v", sc.name, err)
		}
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(1)
}
