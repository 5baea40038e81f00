package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/payguard/payguard/internal/sim"
)

// faultOptions is one fault run.
type faultOptions struct {
	n          int           // genuine notifications (orders), spread over the providers
	forged     int           // forged ones (altered after signing), sent once each
	window     time.Duration // faults on, and first deliveries spread, over this
	compress   float64       // real retry schedules divided by this
	providers  string
	claimLease time.Duration
	fwdTimeout time.Duration // forward_timeout, where the handler has it
	twins      int           // percent of events the provider also sends as a concurrent second copy
	deadline   time.Duration // the whole run's bound
	seed       uint64
	skip       string // shop modes left out of the plan ("fail,slow")
	keys, bin  string
}

func (o *faultOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.n, "fault-n", 3000, "fault: genuine notifications")
	fs.IntVar(&o.forged, "fault-forged", 100, "fault: forged notifications")
	fs.DurationVar(&o.window, "fault-window", 30*time.Second, "fault: how long faults last (first deliveries are spread over it)")
	fs.Float64Var(&o.compress, "fault-compress", 1000, "fault: the providers' real retry schedules are divided by this")
	fs.StringVar(&o.providers, "fault-providers", "alipay,wechatpay_v3,stripe", "fault: providers played")
	fs.DurationVar(&o.claimLease, "fault-claim-lease", 2*time.Second, "fault: payguard's claim_lease (the slow shop holds 1.5× this)")
	fs.DurationVar(&o.fwdTimeout, "fault-forward-timeout", 4*time.Second, "fault: payguard's forward_timeout, where the handler has the option")
	fs.IntVar(&o.twins, "fault-twins", 10, "fault: percent of events also sent as a concurrent second copy (providers send duplicates)")
	fs.DurationVar(&o.deadline, "fault-deadline", 10*time.Minute, "fault: bound of the whole run")
	fs.Uint64Var(&o.seed, "fault-seed", 1, "fault: seed of the fault plan")
	fs.StringVar(&o.skip, "fault-skip", "", "fault: shop answers left out of the plan, comma-separated: "+strings.Join(modeNames[1:], ", "))
}

// retrySchedules are the providers' documented intervals between attempts,
// in seconds (/work/shared/providers.md). Stripe documents only
// "exponential back-off for up to three days"; its intervals here are that
// shape, not Stripe's exact table.
var retrySchedules = map[string][]float64{
	"alipay":       {240, 600, 600, 3600, 7200, 21600, 54000},
	"wechatpay_v3": {15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600},
	"stripe":       {60, 300, 1800, 3600, 10800, 21600, 43200, 86400, 86400},
}

// faultEvent is one genuine notification: its order and what the provider
// saw.
type faultEvent struct {
	p     *sim.Provider
	order sim.Order
	acked atomic.Int64 // unix nanos of the first success acknowledgement, 0 none
	gave  atomic.Bool  // a copy ran out of retries

	mu   sync.Mutex
	sent []string // each attempt as the provider saw it, for an anomaly's report
}

// record notes one attempt: when (since the shop started), through which
// instance, and payguard's answer.
func (ev *faultEvent) record(at time.Duration, instance, answer string) {
	ev.mu.Lock()
	ev.sent = append(ev.sent, fmt.Sprintf("%.2fs %s: %s", at.Seconds(), instance, answer))
	ev.mu.Unlock()
}

func (ev *faultEvent) attempts() string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return strings.Join(ev.sent, "; ")
}

// faultReport is what the run counted.
type faultReport struct {
	Genuine, Copies, Forged       int
	Attempts                      int64
	Answers                       map[string]int // status + Payguard-Reason
	ShopModes                     [nModes]int
	Once, Twice, Never            int
	TwiceAcrossOutage             int // of Twice: first taken while a Redis outage could stop its done record
	TwiceAcrossKill               int // of Twice: first taken through instance b just before its kill -9
	AckedBeforeAccept, AckedNever int
	Unacked, GaveUp               int
	ForgedPassed, ForgedAcked     int
	RedisOutages, Kills           int
	KilledMidDelivery             bool
	ForwardTimeout                bool
	Elapsed                       time.Duration
	examples                      []string
	outages                       [][2]time.Time
	killedAt                      time.Time
	lease, hold                   time.Duration
}

// verdict is nil when every guarantee held.
func (r *faultReport) verdict() error {
	var bad []string
	if n := r.Twice - r.TwiceAcrossOutage - r.TwiceAcrossKill; n > 0 {
		bad = append(bad, fmt.Sprintf("%d genuine notifications reached the shop more than once with no Redis outage or kill to explain it", n))
	}
	if r.Never > 0 {
		bad = append(bad, fmt.Sprintf("%d genuine notifications never reached the shop", r.Never))
	}
	if r.AckedBeforeAccept > 0 {
		bad = append(bad, fmt.Sprintf("%d acknowledged before the shop accepted", r.AckedBeforeAccept))
	}
	if r.Unacked > 0 {
		bad = append(bad, fmt.Sprintf("%d genuine notifications never acknowledged", r.Unacked))
	}
	if r.ForgedPassed > 0 || r.ForgedAcked > 0 {
		bad = append(bad, fmt.Sprintf("forged: %d reached the shop, %d acknowledged", r.ForgedPassed, r.ForgedAcked))
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s (e.g. %s)", strings.Join(bad, "; "), strings.Join(r.examples, ", "))
}

// forwardTimeoutSupported says whether this build's handler has the
// forward_timeout option (the hardening work adds it).
func forwardTimeoutSupported() bool {
	cf := "http://127.0.0.1:1 {\n\tpayguard stripe {\n\t\tsecret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\t\tforward_timeout 2s\n\t}\n}\n"
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	return err == nil
}

// faultStack is the shop, Redis and the two instances.
type faultStack struct {
	dir     string
	shop    *faultShop
	shopSrv *http.Server
	redis   *redisServer
	cfs     [2]string
	ports   [2]int
	mu      sync.Mutex
	inst    [2]*server
	bin     string
}

func (fs *faultStack) instance(i int) *server {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.inst[i]
}

func (fs *faultStack) close() {
	for i := range fs.inst {
		if s := fs.instance(i); s != nil {
			s.kill()
		}
	}
	if fs.redis != nil {
		fs.redis.stop()
	}
	if fs.shopSrv != nil {
		fs.shopSrv.Close()
	}
	os.RemoveAll(fs.dir)
}

func instanceCaddyfile(o faultOptions, ps []*sim.Provider, redisURL, shopAddr, name string, port int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n%s\tpayguard {\n\t\tstore redis %s\n\t}\n}\nhttp://127.0.0.1:%d {\n", globalOpts, redisURL, port)
	extra := fmt.Sprintf("\tclaim_lease %s\n", o.claimLease)
	if forwardTimeoutSupported() {
		extra += fmt.Sprintf("\tforward_timeout %s\n", o.fwdTimeout)
	}
	for _, p := range ps {
		block, err := handlerBlock(p, "http://127.0.0.1:1", false, extra)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\thandle /%s {\n%s\t\treverse_proxy %s {\n\t\t\theader_up X-Instance %s\n\t\t}\n\t}\n",
			p.Name(), indent(block), shopAddr, name)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t\t" + l
		}
	}
	return strings.Join(lines, "")
}

// runFault plays the providers through two payguard instances on one Redis
// while it breaks Redis, the shop and one instance, then counts.
func runFault(o faultOptions, w io.Writer) (*faultReport, error) {
	ps, err := faultProviders(o)
	if err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("ft%x", time.Now().UnixNano())
	events, known, err := prepareEvents(ps, o.n, tag)
	if err != nil {
		return nil, err
	}
	fs := &faultStack{bin: o.bin}
	defer fs.close()
	if err := fs.start(o, ps, known); err != nil {
		return nil, err
	}
	rep := &faultReport{Genuine: o.n, Forged: o.forged, Answers: map[string]int{}, ForwardTimeout: forwardTimeoutSupported(),
		lease: o.claimLease, hold: fs.shop.slowFor}
	fmt.Fprintf(w, "fault run: %d genuine + %d forged notifications (%s), two instances on one Redis, window %s, schedules ÷%.0f, claim_lease %s, forward_timeout %v; %s\n",
		o.n, o.forged, o.providers, o.window, o.compress, o.claimLease, rep.ForwardTimeout, uptime())
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()
	pl := newPlayers(ctx, o, fs, rep)
	rng := rand.New(rand.NewPCG(o.seed, 7))
	pl.launchGenuine(events, rng)
	if err := pl.launchForged(ps, tag, rng); err != nil {
		cancel()
		pl.wg.Wait()
		return nil, err
	}
	if err := fs.playFaults(ctx, o, rep, w); err != nil {
		cancel()
		pl.wg.Wait()
		return nil, err
	}
	pl.wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("the run passed its bound of %s", o.deadline)
	}
	if v := pl.firstErr.Load(); v != nil {
		return nil, v.(error)
	}
	rep.Elapsed = time.Since(start)
	rep.Attempts = pl.attempts.Load()
	rep.ForgedAcked = int(pl.forgedAcked.Load())
	rep.tally(fs.shop, events)
	rep.print(w)
	if rep.verdict() != nil {
		// What the instances logged of each example's order, before the
		// stack's directory goes.
		fs.printLogs(w, rep.exampleOrders())
	}
	return rep, nil
}

// faultProviders loads the played providers' sandboxes.
func faultProviders(o faultOptions) ([]*sim.Provider, error) {
	var ps []*sim.Provider
	for _, name := range strings.Split(o.providers, ",") {
		p, err := loadProvider(o.keys, strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		if retrySchedules[p.Name()] == nil {
			return nil, fmt.Errorf("no retry schedule for %s", p.Name())
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// prepareEvents makes n distinct orders, spread over the providers, and
// the set of their order numbers.
func prepareEvents(ps []*sim.Provider, n int, tag string) ([]*faultEvent, map[string]bool, error) {
	events := make([]*faultEvent, n)
	known := map[string]bool{}
	now := time.Now()
	for i := range events {
		p := ps[i%len(ps)]
		ord := sim.Order{Provider: p.Name(), OutTradeNo: fmt.Sprintf("%s-g-%d", tag, i), Amount: 100 + int64(i)}
		if err := p.Prepare(&ord, now); err != nil {
			return nil, nil, err
		}
		events[i] = &faultEvent{p: p, order: ord}
		known[ord.OutTradeNo] = true
	}
	return events, known, nil
}

// ackOK is the provider's own reading of payguard's answer (DESIGN.md
// section 5): Alipay needs the body "success", the others a 2xx.
func ackOK(provider string, resp *http.Response, body []byte) bool {
	if provider == "alipay" {
		return resp.StatusCode == http.StatusOK && string(body) == "success"
	}
	return resp.StatusCode/100 == 2
}

// forgeField is the tamper that makes a forged notification: the amount
// where the sandbox can alter it after signing, else the signature.
func forgeField(p *sim.Provider) string {
	fields := p.Tamperable()
	for _, f := range fields {
		if strings.Contains(f, "amount") {
			return f
		}
	}
	for _, f := range fields {
		if strings.Contains(f, "sign") {
			return f
		}
	}
	return fields[0]
}

// sleepCtx waits d, false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// tally compares the shop's records with what the providers saw.
func (r *faultReport) tally(shop *faultShop, events []*faultEvent) {
	got, modes, stray := shop.snapshot()
	r.ShopModes = modes
	r.ForgedPassed = stray
	for _, ev := range events {
		se := got[ev.order.OutTradeNo]
		acked := ev.acked.Load()
		switch {
		case se.accepted == 1:
			r.Once++
		case se.accepted > 1:
			r.Twice++
			switch {
			case r.acrossOutage(se.firstAccept):
				r.TwiceAcrossOutage++
			case se.firstVia == "b" && r.acrossKill(se.firstAccept):
				r.TwiceAcrossKill++
			}
			r.example(fmt.Sprintf("%s (%s) accepted %d times: %s", ev.order.OutTradeNo, ev.p.Name(), se.accepted, strings.Join(se.trail, ", ")))
		default:
			r.Never++
			r.example(fmt.Sprintf("%s (%s) never accepted; sent: %s; the shop saw: %s", ev.order.OutTradeNo, ev.p.Name(), ev.attempts(), strings.Join(se.seen, "; ")))
		}
		if ev.gave.Load() {
			r.GaveUp++
		}
		switch {
		case acked == 0:
			r.Unacked++
		case se.accepted == 0:
			r.AckedNever++
			r.AckedBeforeAccept++
		case time.Unix(0, acked).Before(se.firstAccept):
			r.AckedBeforeAccept++
			r.example(fmt.Sprintf("%s (%s) acknowledged before the shop accepted; sent: %s; the shop saw: %s", ev.order.OutTradeNo, ev.p.Name(), ev.attempts(), strings.Join(se.seen, "; ")))
		}
	}
}

// acrossOutage says whether a delivery first taken at t was in flight at
// the shop (held up to the slow shop's hold) or not yet recorded done
// (within a claim lease after) while Redis was down: its done record or
// its lease renewal could not be written, so its claim lapses and the
// provider's retry is forwarded again. No store can promise exactly once
// there; the report counts these apart.
func (r *faultReport) acrossOutage(t time.Time) bool {
	for _, o := range r.outages {
		if t.After(o[0].Add(-r.hold)) && t.Before(o[1].Add(r.lease)) {
			return true
		}
	}
	return false
}

// acrossKill says whether a delivery instance b had taken at t could
// still have been waiting for its done record (within a claim lease)
// when b was killed with SIGKILL: the shop had accepted it, b died
// before writing so, its claim lapses and the provider's retry is
// forwarded again through a. As with an outage, no store can promise
// exactly once there (the shop's own dedup on Payguard-Event-Id covers
// it); the report counts these apart.
func (r *faultReport) acrossKill(t time.Time) bool {
	return !r.killedAt.IsZero() && !t.After(r.killedAt) && t.After(r.killedAt.Add(-r.lease))
}

// exampleOrders are the order numbers the examples start with.
func (r *faultReport) exampleOrders() []string {
	var out []string
	for _, e := range r.examples {
		no, _, _ := strings.Cut(e, " ")
		out = append(out, no)
	}
	return out
}

// printLogs prints the lines of the instances' logs that name one of the
// order numbers.
func (fs *faultStack) printLogs(w io.Writer, orders []string) {
	logs, _ := filepath.Glob(filepath.Join(fs.dir, "payguard-*.log"))
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, no := range orders {
				if strings.Contains(line, no) {
					fmt.Fprintf(w, "  %s: %s\n", filepath.Base(path), line)
				}
			}
		}
	}
}

func (r *faultReport) example(s string) {
	if len(r.examples) < 3 {
		r.examples = append(r.examples, s)
	}
}

func (r *faultReport) print(w io.Writer) {
	fmt.Fprintf(w, "  %d genuine (%d copies), %d forged, %d attempts in %s; %d Redis outages, %d kill -9 (mid-delivery: %v); %s\n",
		r.Genuine, r.Copies, r.Forged, r.Attempts, r.Elapsed.Round(time.Millisecond), r.RedisOutages, r.Kills, r.KilledMidDelivery, uptime())
	var keys []string
	for k := range r.Answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "  payguard's answers:")
	for _, k := range keys {
		fmt.Fprintf(w, " [%s] %d", k, r.Answers[k])
	}
	fmt.Fprintf(w, "\n  the shop answered:")
	for m, n := range r.ShopModes {
		fmt.Fprintf(w, " %s %d", modeNames[m], n)
	}
	fmt.Fprintf(w, "\n  reached the shop exactly once: %d, more than once: %d (of which taken while a Redis outage stopped its done record: %d; taken by b just before its kill -9: %d), never: %d\n",
		r.Once, r.Twice, r.TwiceAcrossOutage, r.TwiceAcrossKill, r.Never)
	fmt.Fprintf(w, "  acknowledged before the shop accepted: %d (of which never accepted: %d); never acknowledged: %d; retries ran out: %d\n",
		r.AckedBeforeAccept, r.AckedNever, r.Unacked, r.GaveUp)
	fmt.Fprintf(w, "  forged: %d reached the shop, %d acknowledged as accepted\n", r.ForgedPassed, r.ForgedAcked)
}
