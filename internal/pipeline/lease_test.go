package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

// blockingShop answers only when released (or gives up when its context
// ends), announcing each delivery on entered.
type blockingShop struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingShop) forward(ctx context.Context, out *Outgoing) (Answer, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return Answer{Status: 200}, nil
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
}

// Issue 10 item 4: with claim_lease shorter than the shop's answer, a copy
// sent after the lease would have been claimed and forwarded too. The
// lease is renewed while the shop works.
func TestLeaseRenewedWhileShopAnswers(t *testing.T) {
	// Long enough that a loaded machine still renews in time (every third
	// of it), short enough to pass several times in the test.
	const lease = 400 * time.Millisecond
	p, _ := newPipeline(t, func(c *Config) { c.ClaimLease = lease })
	slow := &blockingShop{entered: make(chan struct{}, 1), release: make(chan struct{})}
	first := make(chan *Result)
	go func() { first <- p.Handle(context.Background(), post(msg("slow", "o", "t", 1)), slow.forward) }()
	<-slow.entered
	// Several leases pass while the shop has not answered: every copy is
	// in flight, none reaches the shop.
	fast := &shop{}
	for range 3 {
		time.Sleep(lease) // let the original lease run out
		expect(t, p.Handle(context.Background(), post(msg("slow", "o", "t", 1)), fast.forward), 409, reason.InFlight)
	}
	close(slow.release)
	expect(t, <-first, 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(msg("slow", "o", "t", 1)), fast.forward), 200, reason.Duplicate)
	if fast.count() != 0 {
		t.Fatalf("a second copy reached the shop %d times", fast.count())
	}
}

// forward_timeout bounds the wait: the forward is cancelled, the claim
// released at once (the retry need not wait for the lease), 502.
func TestForwardTimeout(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.ForwardTimeout = 50 * time.Millisecond; c.ClaimLease = time.Hour })
	hung := &blockingShop{entered: make(chan struct{}, 1), release: make(chan struct{})}
	res := p.Handle(context.Background(), post(msg("hung", "o", "t", 1)), hung.forward)
	expect(t, res, 502, reason.UpstreamFailed)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "forward_timeout") {
		t.Fatalf("detail %v", res.Err)
	}
	expect(t, p.Handle(context.Background(), post(msg("hung", "o", "t", 1)), (&shop{}).forward), 200, reason.Forwarded)
}
