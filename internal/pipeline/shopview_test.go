package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

func merchantMsg(id, mch, order, txn string) []byte {
	b, _ := json.Marshal(fakeMsg{ID: id, Order: order, Txn: txn, Amount: 100, Mch: mch, Sig: "good"})
	return b
}

// Issue 10 item 8: two apps behind one payguard shared duplicate-payment
// memory: app B's first payment of order 1001 was flagged as a duplicate
// of app A's (and leaked A's trade number). The default namespace is the
// provider and the merchant; order_namespace still shares on purpose.
func TestOrderNamespacePerMerchant(t *testing.T) {
	p, _ := newPipeline(t, nil)
	s := &shop{}
	expect(t, p.Handle(context.Background(), post(merchantMsg("a1", "app-A", "1001", "TA")), s.forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(merchantMsg("b1", "app-B", "1001", "TB")), s.forward), 200, reason.Forwarded)
	if got := s.got[1].Header.Get(HeaderDuplicatePayment); got != "" {
		t.Fatalf("app B's payment flagged as a duplicate of %q", got)
	}
	expect(t, p.Handle(context.Background(), post(merchantMsg("a2", "app-A", "1001", "TA2")), s.forward), 200, reason.Forwarded)
	if got := s.got[2].Header.Get(HeaderDuplicatePayment); got != "TA" {
		t.Fatalf("app A's second payment: duplicate of %q, want TA", got)
	}

	shared, _ := newPipeline(t, func(c *Config) { c.OrderNamespace = "shop1" })
	expect(t, shared.Handle(context.Background(), post(merchantMsg("a1", "app-A", "1001", "TA")), s.forward), 200, reason.Forwarded)
	expect(t, shared.Handle(context.Background(), post(merchantMsg("b1", "app-B", "1001", "TB")), s.forward), 200, reason.Forwarded)
	if got := s.got[4].Header.Get(HeaderDuplicatePayment); got != "TA" {
		t.Fatalf("order_namespace shop1: duplicate of %q, want TA", got)
	}
}

// Issue 10 item 9: Payguard-Amount is the payment's amount on every
// notification; a refund says what it refunded in Payguard-Refund-Amount
// and which refund in Payguard-Refund-Id.
func TestRefundHeaders(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) {
		c.Querier = &fakeQuerier{res: &provider.QueryResult{Status: "paid", Amount: 10000, Currency: "CNY"}}
	})
	s := &shop{}
	b, _ := json.Marshal(fakeMsg{ID: "r1", Order: "o", Txn: "t", Amount: 10000, Status: "refunded", Refund: 50, RefID: "R-1", Sig: "good"})
	expect(t, p.Handle(context.Background(), post(b), s.forward), 200, reason.Forwarded)
	h := s.got[0].Header
	if h.Get(HeaderAmount) != "10000" || h.Get(HeaderRefundAmount) != "50" || h.Get(HeaderRefundID) != "R-1" {
		t.Fatalf("headers %v", h)
	}
	// A payment carries no refund headers, and a client cannot add them.
	in := post(msg("p1", "o2", "t2", 10000))
	in.Header.Set(HeaderRefundAmount, "1")
	expect(t, p.Handle(context.Background(), in, s.forward), 200, reason.Forwarded)
	if v := s.got[1].Header.Values(HeaderRefundAmount); len(v) != 0 {
		t.Fatalf("refund amount on a payment: %v", v)
	}
	// A refund larger than the trade is a mismatch.
	b, _ = json.Marshal(fakeMsg{ID: "r2", Order: "o", Txn: "t", Amount: 10000, Status: "refunded", Refund: 10001, Sig: "good"})
	expect(t, p.Handle(context.Background(), post(b), s.forward), 403, reason.QueryMismatch)

	n, _ := newPipeline(t, func(c *Config) { c.Forward = ForwardNormalized })
	b, _ = json.Marshal(fakeMsg{ID: "r3", Order: "o", Txn: "t", Amount: 10000, Status: "refunded", Refund: 50, RefID: "R-3", Sig: "good"})
	expect(t, n.Handle(context.Background(), post(b), s.forward), 200, reason.Forwarded)
	if body := string(s.got[2].Body); !strings.Contains(body, `"amount":10000`) || !strings.Contains(body, `"refund_amount":50,"refund_id":"R-3"`) {
		t.Fatalf("normalized %s", body)
	}
}

// Issue 10 item 10: a passthrough request (a browser's return) is pending
// unless the query confirms the trade paid; it is still never claimed.
func TestPassthroughPendingUnlessConfirmed(t *testing.T) {
	pending := func(id string, amount int64) *Incoming {
		b, _ := json.Marshal(fakeMsg{ID: id, Order: "o", Txn: "t", Amount: amount, Status: "pending", Sig: "good"})
		in := post(b)
		in.Method = http.MethodGet
		return in
	}
	traits := provider.Traits{Method: http.MethodGet, Passthrough: true}
	q := &fakeQuerier{res: &provider.QueryResult{Status: "paid", Amount: 100, Currency: "CNY"}}
	p, _ := newPipeline(t, func(c *Config) { c.Provider = &fakeProvider{traits: traits}; c.Querier = q })
	s := &shop{}
	for _, c := range []struct {
		amount int64
		status string
		query  string
	}{{100, "paid", "confirmed"}, {99, "pending", "skipped"}} {
		res := p.Handle(context.Background(), pending(fmt.Sprint("ret-", c.amount), c.amount), s.forward)
		h := s.got[len(s.got)-1].Header
		if res.Code != reason.Forwarded || h.Get(HeaderStatus) != c.status || h.Get(HeaderQuery) != c.query {
			t.Errorf("amount %d: %s, status %q query %q", c.amount, res.Code, h.Get(HeaderStatus), h.Get(HeaderQuery))
		}
	}
	// Without a query, or with the query down, it stays pending and passes.
	q.err = errors.New("down")
	res := p.Handle(context.Background(), pending("ret-down", 100), s.forward)
	if h := s.got[len(s.got)-1].Header; res.Code != reason.Forwarded || h.Get(HeaderStatus) != "pending" {
		t.Errorf("query down: %s %v", res.Code, h)
	}
	p, _ = newPipeline(t, func(c *Config) { c.Provider = &fakeProvider{traits: traits} })
	p.Handle(context.Background(), pending("ret-none", 100), s.forward)
	if h := s.got[len(s.got)-1].Header; h.Get(HeaderStatus) != "pending" {
		t.Errorf("no query: %v", h)
	}
}

// The first merchant's namespace is kept (orderNamespace), so it must stay
// Namespace's answer for every merchant in any order, the kept one or not.
func TestOrderNamespaceKeptAgreesWithNamespace(t *testing.T) {
	p, _ := newPipeline(t, nil)
	for _, m := range []string{"app-A", "app-B", "app-A", "", "app-B", "app-A"} {
		n := &notification.Notification{Merchant: m}
		if got, want := p.orderNamespace(n), Namespace("", "fake", m); got != want {
			t.Errorf("merchant %q: %q, want %q", m, got, want)
		}
	}
}
