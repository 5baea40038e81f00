package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/store/redistest"
)

// The store goes away after the shop accepted a notification (the fault
// harness's double deliveries, bench/RESULTS.md): the done record is
// retried, success is acknowledged only once it is written, and a retry
// of the event meanwhile is a duplicate, never a second delivery.

// outageStore reports each completion attempt; while down (the memory
// store's outage) every operation fails as an unreachable store does.
type outageStore struct {
	store.Store
	down   atomic.Bool
	failed chan struct{} // a completion attempt failed
	wrote  chan struct{} // a completion was written
}

var errOutage = fmt.Errorf("%w: test outage", store.ErrUnavailable)

func newOutageStore(st store.Store) *outageStore {
	return &outageStore{Store: st, failed: make(chan struct{}, 64), wrote: make(chan struct{}, 64)}
}

func (s *outageStore) report(err error) error {
	ch := s.wrote
	if err != nil {
		ch = s.failed
	}
	select {
	case ch <- struct{}{}:
	default:
	}
	return err
}

func (s *outageStore) CompleteEvent(ctx context.Context, ns, id, token string, ttl time.Duration) error {
	if s.down.Load() {
		return s.report(errOutage)
	}
	return s.report(s.Store.CompleteEvent(ctx, ns, id, token, ttl))
}

func (s *outageStore) ClaimEvent(ctx context.Context, ns, id string, lease time.Duration) (store.Claim, error) {
	if s.down.Load() {
		return store.Claim{}, errOutage
	}
	return s.Store.ClaimEvent(ctx, ns, id, lease)
}

func (s *outageStore) RenewEvent(ctx context.Context, ns, id, token string, lease time.Duration) (bool, error) {
	if s.down.Load() {
		return false, errOutage
	}
	return s.Store.RenewEvent(ctx, ns, id, token, lease)
}

// outageCase is one store with a way to take it away and bring it back.
type outageCase struct {
	st           *outageStore
	outage, back func()
}

func eachOutage(t *testing.T, f func(t *testing.T, c outageCase)) {
	t.Run("memory", func(t *testing.T) {
		m := store.NewMemory("")
		t.Cleanup(func() { _ = m.Close() })
		st := newOutageStore(m)
		f(t, outageCase{st: st, outage: func() { st.down.Store(true) }, back: func() { st.down.Store(false) }})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		r, err := store.OpenRedis(srv.URL(), nil, "", "outage:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		// A real outage: the server is killed (SIGKILL) and started again
		// empty, so the claim is gone too.
		f(t, outageCase{st: newOutageStore(r), outage: srv.Stop, back: srv.Restart})
	})
}

// forwardThenOutage is a shop that accepts, the store going away as it
// answers.
func forwardThenOutage(s *shop, c outageCase) Forwarder {
	return func(ctx context.Context, out *Outgoing) (Answer, error) {
		a, err := s.forward(ctx, out)
		c.outage()
		return a, err
	}
}

func TestDoneRecordRetriedWithinTheRequest(t *testing.T) {
	eachOutage(t, func(t *testing.T, c outageCase) {
		p, _ := newPipeline(t, func(cfg *Config) { cfg.Store, cfg.CompleteWait = c.st, time.Minute })
		go func() {
			<-c.st.failed // the first attempt failed: the store comes back
			c.back()
		}()
		s := &shop{}
		body := msg("e1", "o1", "t1", 100)
		expect(t, p.Handle(context.Background(), post(body), forwardThenOutage(s, c)), 200, reason.Forwarded)
		deliveredOnce(t, p, c.st, s, body)
	})
}

// deliveredOnce: another instance on the same store finds the done
// record, the shop has one copy, and nothing is left pending in p.
func deliveredOnce(t *testing.T, p *Pipeline, st store.Store, s *shop, body []byte) {
	t.Helper()
	other, _ := newPipeline(t, func(cfg *Config) { cfg.Store = st })
	expect(t, other.Handle(context.Background(), post(body), s.forward), 200, reason.Duplicate)
	if s.count() != 1 {
		t.Fatalf("the shop got %d copies", s.count())
	}
	if left := p.Close(); len(left) != 0 {
		t.Fatalf("pending after the record was written: %v", left)
	}
}

func TestDoneRecordPendingPastTheWait(t *testing.T) {
	eachOutage(t, func(t *testing.T, c outageCase) {
		p, _ := newPipeline(t, func(cfg *Config) { cfg.Store, cfg.CompleteWait = c.st, time.Millisecond })
		s := &shop{}
		body := msg("e1", "o1", "t1", 100)
		res := p.Handle(context.Background(), post(body), forwardThenOutage(s, c))
		// Not acknowledged while the store does not have it.
		expect(t, res, http.StatusServiceUnavailable, reason.StoreUnavailable)
		if !errors.Is(res.Err, store.ErrUnavailable) {
			t.Fatalf("detail %v", res.Err)
		}
		// The provider's retry, the store still away: the shop has it.
		expect(t, p.Handle(context.Background(), post(body), s.forward), 200, reason.Duplicate)
		if s.count() != 1 {
			t.Fatalf("the shop got %d copies", s.count())
		}
		for len(c.st.wrote) > 0 {
			<-c.st.wrote
		}
		c.back()
		<-c.st.wrote // the background writer took it to the store
		deliveredOnce(t, p, c.st, s, body)
	})
}

// A pipeline closed while the store is still away names what it could
// not write.
func TestPendingNamedAtClose(t *testing.T) {
	m := store.NewMemory("")
	defer m.Close()
	st := newOutageStore(m)
	p, _ := newPipeline(t, func(cfg *Config) { cfg.Store, cfg.CompleteWait = st, time.Millisecond })
	s := &shop{}
	forward := func(ctx context.Context, out *Outgoing) (Answer, error) {
		a, err := s.forward(ctx, out)
		st.down.Store(true)
		return a, err
	}
	expect(t, p.Handle(context.Background(), post(msg("e1", "o1", "t1", 100)), forward), 503, reason.StoreUnavailable)
	if left := p.Close(); len(left) != 1 || left[0] != "e1" {
		t.Fatalf("Close left %v, want e1", left)
	}
}
