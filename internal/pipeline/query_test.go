package pipeline

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// kindQuerier cannot confirm notifications of status other, and answers
// paid for the rest; each call announces itself on entered and waits for
// release.
type kindQuerier struct {
	entered chan notification.Status
	release chan struct{}
}

func newKindQuerier() *kindQuerier {
	return &kindQuerier{entered: make(chan notification.Status, 8), release: make(chan struct{})}
}

func (q *kindQuerier) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	q.entered <- n.Status
	<-q.release
	if n.Status == notification.StatusOther {
		return nil, provider.ErrNotQueryable
	}
	return &provider.QueryResult{Status: notification.StatusPaid, Amount: n.Amount, Currency: "CNY"}, nil
}

func statusMsg(id, status string) []byte {
	b, _ := json.Marshal(fakeMsg{ID: id, Order: "o", Txn: "t", Amount: 100, Status: status, Sig: "good"})
	return b
}

// Issue 10 item 2: a notification the query cannot speak to is forwarded
// with Payguard-Query: skipped, not refused for good.
func TestQueryCannotConfirmIsSkipped(t *testing.T) {
	q := newKindQuerier()
	close(q.release)
	p, _ := newPipeline(t, func(c *Config) { c.Querier = q })
	s := &shop{}
	res := p.Handle(context.Background(), post(statusMsg("other-1", "other")), s.forward)
	expect(t, res, 200, reason.Forwarded)
	if res.Query != nil || s.got[0].Header.Get(HeaderQuery) != "skipped" {
		t.Fatalf("query %v, header %q", res.Query, s.got[0].Header.Get(HeaderQuery))
	}
	res = p.Handle(context.Background(), post(statusMsg("paid-1", "paid")), s.forward)
	expect(t, res, 200, reason.Forwarded)
	if s.got[1].Header.Get(HeaderQuery) != "confirmed" {
		t.Fatal("a paid notification was not confirmed")
	}
}

// A paid notification and one the query cannot confirm, for the same
// order at the same time, never share one query: the paid one must be
// confirmed, not waved through as skipped.
func TestQueryFlightsSeparateByKind(t *testing.T) {
	q := newKindQuerier()
	p, _ := newPipeline(t, func(c *Config) { c.Querier = q })
	s := &shop{}
	var wg sync.WaitGroup
	results := make([]*Result, 2)
	run := func(i int, body []byte) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.Handle(context.Background(), post(body), s.forward)
		}()
	}
	run(0, statusMsg("other-2", "other"))
	if st := <-q.entered; st != notification.StatusOther {
		t.Fatalf("first query for %s", st)
	}
	run(1, statusMsg("paid-2", "paid"))
	select {
	case st := <-q.entered:
		if st != notification.StatusPaid {
			t.Errorf("second query for %s", st)
		}
	case <-time.After(5 * time.Second):
		t.Error("the paid notification joined the other notification's query instead of making its own")
	}
	close(q.release)
	wg.Wait()
	if results[1].Query == nil || results[1].Code != reason.Forwarded {
		t.Fatalf("paid notification: %s, query %v", results[1].Code, results[1].Query)
	}
	if results[0].Query != nil || results[0].Code != reason.Forwarded {
		t.Fatalf("other notification: %s, query %v", results[0].Code, results[0].Query)
	}
}

// A paid notification whose trade was refunded before the shop accepted it
// is confirmed, not refused: the payment happened.
func TestPaidThenRefundedConfirmed(t *testing.T) {
	refunded := &provider.QueryResult{Status: notification.StatusRefunded, Amount: 1234, Currency: "CNY"}
	p, _ := newPipeline(t, func(c *Config) { c.Querier = &fakeQuerier{res: refunded} })
	s := &shop{}
	res := p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward)
	expect(t, res, 200, reason.Forwarded)
	if s.got[0].Header.Get(HeaderQuery) != "confirmed" {
		t.Fatal("not confirmed")
	}
	// Still the same payment: another amount is a mismatch.
	p, _ = newPipeline(t, func(c *Config) { c.Querier = &fakeQuerier{res: refunded} })
	expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 99)), s.forward), 403, reason.QueryMismatch)
}
