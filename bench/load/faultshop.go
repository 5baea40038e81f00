package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shopMode is how the faulty shop answers one delivery.
type shopMode int

const (
	modeOK      shopMode = iota // 200 "success" at once
	mode500                     // 500 at once: not taken
	modeFail                    // Alipay's legacy "fail" (200): not taken
	modeSlow                    // held past claim_lease, then taken if payguard still waits
	modeTimeout                 // held until payguard gives up (or holdMax, then 504): not taken
	nModes
)

var modeNames = [nModes]string{"ok", "500", "fail", "slow", "timeout"}

// shopEvent is what the shop knows about one order number.
type shopEvent struct {
	arrivals    int
	accepted    int
	firstAccept time.Time
	firstVia    string   // the instance whose delivery was first accepted
	trail       []string // each acceptance: when (since the shop started) and through which instance
	seen        []string // each arrival: when, through which instance, the answer drawn
}

// faultShop is the legacy shop behind both instances: it takes or refuses
// each delivery by the harness's fault plan and remembers what it took.
type faultShop struct {
	slowFor, holdMax time.Duration
	started          time.Time
	faulty           atomic.Bool // faults on (the fault window)
	armKill          atomic.Bool // the next held delivery from instance b triggers the kill
	killNow          chan struct{}
	skip             [nModes]bool // answers left out of the plan

	mu      sync.Mutex
	rng     *rand.Rand
	events  map[string]*shopEvent
	modes   [nModes]int
	unknown int // deliveries without Payguard-Out-Trade-No
	known   func(outTradeNo string) bool
	forged  func(outTradeNo string) bool
	forgedN int
	foreign int // deliveries for an order number the harness never sent
}

func newFaultShop(seed uint64, slowFor, holdMax time.Duration, known, forged func(string) bool) *faultShop {
	return &faultShop{
		slowFor: slowFor, holdMax: holdMax, started: time.Now(), killNow: make(chan struct{}, 1),
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), events: map[string]*shopEvent{},
		known: known, forged: forged,
	}
}

// pick draws the answer for one delivery: 10 % 500, 10 % fail (Alipay
// only: for the others a 200 is an acceptance by contract), 4 % slow, 3 %
// timeout while faults are on.
func (s *faultShop) pick(provider string) shopMode {
	m := s.draw(provider)
	if s.skip[m] {
		return modeOK
	}
	return m
}

func (s *faultShop) draw(provider string) shopMode {
	if !s.faulty.Load() {
		return modeOK
	}
	s.mu.Lock()
	x := s.rng.IntN(100)
	s.mu.Unlock()
	switch {
	case x < 10:
		return mode500
	case x < 20 && provider == "alipay":
		return modeFail
	case x < 24:
		return modeSlow
	case x < 27:
		return modeTimeout
	}
	return modeOK
}

func (s *faultShop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	no := r.Header.Get("Payguard-Out-Trade-No")
	mode := s.pick(r.Header.Get("Payguard-Provider"))
	if r.Header.Get("X-Instance") == "b" && s.armKill.Load() && mode != modeTimeout {
		// Armed: b's next delivery is held, whatever the draw said, so
		// the kill lands while b waits for the shop (at 7 % of deliveries
		// a loaded machine could let the arming window pass without one).
		mode = modeSlow
	}
	s.mu.Lock()
	s.modes[mode]++
	ev := s.arrive(no)
	if ev != nil {
		ev.seen = append(ev.seen, fmt.Sprintf("%.2fs via %s: %s", time.Since(s.started).Seconds(), r.Header.Get("X-Instance"), modeNames[mode]))
	}
	s.mu.Unlock()
	if ev == nil {
		// Forged or foreign: it reached the shop, which is the finding;
		// the shop answers as it would.
		_, _ = io.WriteString(w, "success")
		return
	}
	if (mode == modeSlow || mode == modeTimeout) && r.Header.Get("X-Instance") == "b" && s.armKill.CompareAndSwap(true, false) {
		// Mid-delivery: instance b is waiting for this answer.
		s.killNow <- struct{}{}
	}
	switch mode {
	case mode500:
		http.Error(w, "shop error", http.StatusInternalServerError)
		return
	case modeFail:
		_, _ = io.WriteString(w, "fail")
		return
	case modeTimeout:
		s.hold(r, s.holdMax)
		http.Error(w, "shop timed out", http.StatusGatewayTimeout)
		return
	case modeSlow:
		if !s.hold(r, s.slowFor) {
			return // payguard gave up or died: the shop's transaction rolls back
		}
	}
	// The shop commits, then answers: the acceptance time is before the
	// answer leaves, so an acknowledgement can never truly precede it.
	s.mu.Lock()
	if r.Context().Err() == nil {
		ev.accepted++
		ev.trail = append(ev.trail, fmt.Sprintf("%.2fs via %s", time.Since(s.started).Seconds(), r.Header.Get("X-Instance")))
		if ev.accepted == 1 {
			ev.firstAccept, ev.firstVia = time.Now(), r.Header.Get("X-Instance")
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "success")
}

// arrive records a delivery; nil for an order the harness never sent as
// a genuine notification (locked by the caller).
func (s *faultShop) arrive(no string) *shopEvent {
	switch {
	case no == "":
		s.unknown++
		return nil
	case s.forged(no):
		s.forgedN++
		return nil
	case !s.known(no):
		s.foreign++
		return nil
	}
	ev := s.events[no]
	if ev == nil {
		ev = &shopEvent{}
		s.events[no] = ev
	}
	ev.arrivals++
	return ev
}

// hold waits d, and false when the request ends first (payguard's forward
// cancelled, or the instance killed).
func (s *faultShop) hold(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// snapshot copies the shop's records.
func (s *faultShop) snapshot() (map[string]shopEvent, [nModes]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]shopEvent, len(s.events))
	for k, v := range s.events {
		e := *v
		e.trail = append([]string(nil), v.trail...)
		e.seen = append([]string(nil), v.seen...)
		out[k] = e
	}
	return out, s.modes, s.forgedN + s.foreign + s.unknown
}

func isForgedNo(no string) bool { return strings.Contains(no, "-f-") }
