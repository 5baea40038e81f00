package pipeline

import (
	"context"
	"sync"
	"time"
)

// leaseRenewal renews a delivery's claim every third of its lease while
// the shop has not answered, on a runtime timer (time.AfterFunc): no
// goroutine, ticker or channel per forward, and a goroutine only for the
// rare renewal that is due (a shop slower than a third of claim_lease).
// A renewal that fails (store unreachable) is tried again at the next
// tick; the claim then lasts at least until its last renewal's lease.
type leaseRenewal struct {
	mu      sync.Mutex // held by a renewal in progress, so stop waits for it
	t       *time.Timer
	stopped bool
}

// startRenewing arms the first renewal, a third of claim_lease from now.
func (d *delivery) startRenewing() {
	r := &d.renewal
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t = time.AfterFunc(d.renewEvery(), d.renewOnce)
}

// stopRenewing disarms the timer and waits for a renewal in progress, so
// none is written after the forward returned.
func (d *delivery) stopRenewing() {
	r := &d.renewal
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.t.Stop()
}

func (d *delivery) renewEvery() time.Duration { return max(d.p.cfg.ClaimLease/3, time.Millisecond) }

// renewOnce is the timer's function: one renewal, then the next armed.
func (d *delivery) renewOnce() {
	r := &d.renewal
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	every := d.renewEvery()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), every)
	_, _ = d.p.cfg.Store.RenewEvent(rctx, d.p.name, d.n.EventID, d.claim.Token, d.p.cfg.ClaimLease)
	cancel()
	r.t.Reset(every)
}
