package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/cpuclock"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/store"
)

// threePolicies are typical operator rules: the merchant pinned, the
// currencies allowed, a ceiling per currency.
var threePolicies = []string{
	`notification.raw.app_id == "2021000000000001"`,
	`notification.currency in ["CNY", "HKD"]`,
	`cel.bind(ceiling, {"CNY": 5000000, "HKD": 5000000}, notification.currency in ceiling && notification.amount <= ceiling[notification.currency])`,
}

func compiledPolicies(b *testing.B) []pipeline.Policy {
	var pols []pipeline.Policy
	for _, src := range threePolicies {
		p, err := policy.Compile(policy.InlineName(src), src)
		if err != nil {
			b.Fatal(err)
		}
		pols = append(pols, p)
	}
	return pols
}

func alipayPipeline(b *testing.B, pols []pipeline.Policy) *pipeline.Pipeline {
	prov, err := alipay.New(alipay.Config{AppID: appID, PublicKey: pubPEM})
	if err != nil {
		b.Fatal(err)
	}
	st := store.NewMemory("")
	b.Cleanup(func() { st.Close() })
	p, err := pipeline.New(pipeline.Config{Provider: prov, Store: st, Policies: pols})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func handle(b *testing.B, p *pipeline.Pipeline, body []byte) {
	// Alipay's legacy handler accepts with the body "success" (forward
	// original); a bare 200 is its retry.
	forward := func(context.Context, *pipeline.Outgoing) (pipeline.Answer, error) {
		return pipeline.Answer{Status: 200, Body: []byte("success")}, nil
	}
	res := p.Handle(context.Background(), &pipeline.Incoming{
		Method: "POST", Path: "/alipay", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body: bytes.NewReader(body), ContentLength: int64(len(body)), RemoteIP: netip.MustParseAddr("127.0.0.1"),
	}, forward)
	if res.Code != "forwarded" {
		b.Fatalf("%s: %v", res.Code, res.Err)
	}
}

// BenchmarkPolicyOverhead runs the same notifications through a pipeline
// without policies and one with threePolicies, interleaved in rounds in
// alternating order so both see the same machine, and reports the three
// policies' cost as a percentage of a notification without them (the
// target: under 6%). The percentage is of CPU time on the benchmark's own
// thread where the OS reports it (Linux): on a shared machine wall time
// mostly measures who else ran, and an A/A run of this benchmark (two
// pipelines without policies) differs by up to 10% in wall time. Wall
// times per notification are reported beside it.
func BenchmarkPolicyOverhead(b *testing.B) {
	setup(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	without, with := alipayPipeline(b, nil), alipayPipeline(b, compiledPolicies(b))
	const rounds, perRound = 100, 10
	var wall, cpu [2]time.Duration // 0: without, 1: with
	var ratios []float64
	_, haveCPU := cpuclock.Thread()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			b.StopTimer()
			bodies := notifications(b, perRound)
			b.StartTimer()
			// Each body goes through both: the claims are per pipeline
			// store, so neither sees the other's as a duplicate.
			order := [2]int{0, 1}
			if r%2 == 1 {
				order = [2]int{1, 0}
			}
			var spent [2]time.Duration
			for _, k := range order {
				p := without
				if k == 1 {
					p = with
				}
				c0, _ := cpuclock.Thread()
				t0 := time.Now()
				for _, body := range bodies {
					handle(b, p, body)
				}
				w := time.Since(t0)
				c1, _ := cpuclock.Thread()
				wall[k] += w
				cpu[k] += c1 - c0
				spent[k] = c1 - c0
				if !haveCPU {
					spent[k] = w
				}
			}
			if spent[0] > 0 {
				ratios = append(ratios, float64(spent[1])/float64(spent[0]))
			}
		}
	}
	slices.Sort(ratios)
	n := float64(b.N * rounds * perRound)
	b.ReportMetric(float64(wall[0].Nanoseconds())/n, "without-wall-ns/op")
	b.ReportMetric(float64(wall[1].Nanoseconds())/n, "three-policies-wall-ns/op")
	if haveCPU {
		b.ReportMetric(float64(cpu[0].Nanoseconds())/n, "without-cpu-ns/op")
		b.ReportMetric(float64(cpu[1].Nanoseconds())/n, "three-policies-cpu-ns/op")
	}
	b.ReportMetric(100*(ratios[len(ratios)/2]-1), "overhead-%")
}

// BenchmarkThreePolicies is the policy stage alone: three policies on one
// verified notification.
func BenchmarkThreePolicies(b *testing.B) {
	pols := compiledPolicies(b)
	n := alipayNotification()
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	b.ReportAllocs()
	for b.Loop() {
		// One input per notification, as the pipeline builds it.
		in := &policy.Input{Notification: n, Path: "/alipay", Header: hdr}
		for _, p := range pols {
			if ok, err := p.Allow(context.Background(), in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	}
}

// BenchmarkThreePoliciesJoined is the policy stage as the pipeline runs it
// when every policy allows: threePolicies as one conjunction.
func BenchmarkThreePoliciesJoined(b *testing.B) {
	var progs []*policy.Program
	for _, p := range compiledPolicies(b) {
		progs = append(progs, p.(*policy.Program))
	}
	all, err := policy.All(progs)
	if err != nil {
		b.Fatal(err)
	}
	n := alipayNotification()
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	b.ReportAllocs()
	for b.Loop() {
		in := &policy.Input{Notification: n, Path: "/alipay", Header: hdr}
		if !all.AllAllow(context.Background(), in) {
			b.Fatal("denied")
		}
	}
}

func alipayNotification() *notification.Notification {
	raw := map[string]any{}
	for k, v := range alipay.SampleNotifyParams(appID, "bench-p", "12.34", time.Now()) {
		raw[k] = v
	}
	return &notification.Notification{Provider: "alipay", EventID: "e", OutTradeNo: "bench-p", TransactionID: "t",
		Amount: 1234, Currency: "CNY", Status: notification.StatusPaid, Raw: raw}
}

// policyLines are threePolicies as Caddyfile lines, for the
// /alipay-policies route.
func policyLines() string {
	var b strings.Builder
	for _, src := range threePolicies {
		b.WriteString("\t\t\tpolicy `" + src + "`\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// BenchmarkPolicyOverheadHTTP is BenchmarkPolicyOverhead through Caddy:
// one new notification over HTTP to the route without policies and to the
// one with threePolicies, interleaved. Caddy, the client and the shop run
// in this process, so the CPU time compared is the process's (Linux).
func BenchmarkPolicyOverheadHTTP(b *testing.B) {
	setup(b)
	const rounds, perRound = 20, 50
	var wall, cpu [2]time.Duration
	_, haveCPU := cpuclock.Process()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			b.StopTimer()
			bodies := notifications(b, 2*perRound)
			b.StartTimer()
			order := [2]int{0, 1}
			if r%2 == 1 {
				order = [2]int{1, 0}
			}
			for _, k := range order {
				path := "/alipay"
				if k == 1 {
					path = "/alipay-policies"
				}
				c0, _ := cpuclock.Process()
				t0 := time.Now()
				for _, body := range bodies[k*perRound : (k+1)*perRound] {
					post(b, path, body, "forwarded")
				}
				wall[k] += time.Since(t0)
				c1, _ := cpuclock.Process()
				cpu[k] += c1 - c0
			}
		}
	}
	n := float64(b.N * rounds * perRound)
	b.ReportMetric(float64(wall[0].Nanoseconds())/n, "without-wall-ns/op")
	b.ReportMetric(float64(wall[1].Nanoseconds())/n, "three-policies-wall-ns/op")
	if haveCPU {
		b.ReportMetric(float64(cpu[0].Nanoseconds())/n, "without-cpu-ns/op")
		b.ReportMetric(float64(cpu[1].Nanoseconds())/n, "three-policies-cpu-ns/op")
		b.ReportMetric(100*(float64(cpu[1])/float64(cpu[0])-1), "overhead-%")
	} else {
		b.ReportMetric(100*(float64(wall[1])/float64(wall[0])-1), "overhead-%")
	}
}
