package pipeline

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// paidCounting counts the policy stage's reads of the paid transaction and
// can make them fail.
type paidCounting struct {
	store.Store
	reads atomic.Int32
	err   error
}

func (s *paidCounting) PaidTransaction(ctx context.Context, ns, outTradeNo string) (string, error) {
	s.reads.Add(1)
	if s.err != nil {
		return "", s.err
	}
	return s.Store.PaidTransaction(ctx, ns, outTradeNo)
}

// A policy that denies a second paid transaction for an order sees the
// first one as notification.duplicate_of before anything is recorded: the
// second is refused and never reaches the shop, while the first
// transaction's own resend (another event id) passes.
func TestPolicyDeniesSecondPaidTransaction(t *testing.T) {
	p, st := newPipeline(t, func(cfg *Config) {
		cfg.Policies = []Policy{compiled(t, "single-payment.cel", `notification.duplicate_of == ""`)}
	})
	s := &shop{}
	expect(t, p.Handle(context.Background(), post(msg("e1", "o1", "t1", 1234)), s.forward), 200, reason.Forwarded)
	res := p.Handle(context.Background(), post(msg("e2", "o1", "t2", 1234)), s.forward)
	expect(t, res, 403, reason.PolicyDenied)
	if res.Policy != "single-payment.cel" || res.Audit.Policy != "single-payment.cel" {
		t.Errorf("denying policy %q, audit %q", res.Policy, res.Audit.Policy)
	}
	if s.count() != 1 {
		t.Fatalf("the shop got %d notifications, want the first only", s.count())
	}
	if !claimable(t, st, "e2") {
		t.Error("the denied notification's claim was not released")
	}
	// Denied, t2 was not recorded: the order's paid transaction is still t1.
	if got, err := st.PaidTransaction(context.Background(), "fake", "o1"); err != nil || got != "t1" {
		t.Fatalf("paid transaction after the denial: %q, %v", got, err)
	}
	expect(t, p.Handle(context.Background(), post(msg("e3", "o1", "t1", 1234)), s.forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(msg("e4", "o2", "t2", 1234)), s.forward), 200, reason.Forwarded)
}

// The value is the earlier transaction, the one the shop would see in
// Payguard-Duplicate-Payment had the policy let it through.
func TestPolicySeesEarlierTransaction(t *testing.T) {
	p, _ := newPipeline(t, func(cfg *Config) {
		cfg.Policies = []Policy{compiled(t, "p", `notification.duplicate_of in ["", "t1"]`)}
	})
	s := &shop{}
	expect(t, p.Handle(context.Background(), post(msg("e1", "o1", "t1", 1234)), s.forward), 200, reason.Forwarded)
	res := p.Handle(context.Background(), post(msg("e2", "o1", "t2", 1234)), s.forward)
	expect(t, res, 200, reason.Forwarded)
	if res.DuplicateOf != "t1" || s.got[1].Header.Get(HeaderDuplicatePayment) != "t1" {
		t.Fatalf("DuplicateOf %q, header %q", res.DuplicateOf, s.got[1].Header.Get(HeaderDuplicatePayment))
	}
}

// The store is read only when a policy reads duplicate_of, and only for a
// paid notification (the only kind the duplicate-payment record is about).
func TestDuplicateOfReadOnlyWhenReferenced(t *testing.T) {
	refund, _ := json.Marshal(fakeMsg{ID: "r1", Order: "o1", Txn: "t1", Amount: 1234, Status: "refunded", Sig: "good"})
	for _, c := range []struct {
		policy string
		reads  int32
	}{
		{`notification.amount > 0`, 0},
		{`notification.raw.order != "duplicate_of"`, 0},
		{`notification.duplicate_of == ""`, 1},
	} {
		counting := &paidCounting{}
		p, _ := newPipeline(t, func(cfg *Config) {
			counting.Store = cfg.Store
			cfg.Store = counting
			cfg.Policies = []Policy{compiled(t, "p", c.policy)}
		})
		expect(t, p.Handle(context.Background(), post(msg("e1", "o1", "t1", 1234)), (&shop{}).forward), 200, reason.Forwarded)
		expect(t, p.Handle(context.Background(), post(refund), (&shop{}).forward), 200, reason.Forwarded)
		if got := counting.reads.Load(); got != c.reads {
			t.Errorf("%s: %d reads of the paid transaction, want %d", c.policy, got, c.reads)
		}
	}
}

// A store that cannot be read fails closed: 503 store_unavailable, nothing
// to the shop, the claim released for the provider's retry.
func TestDuplicateOfStoreDownFailsClosed(t *testing.T) {
	counting := &paidCounting{err: errDown}
	p, st := newPipeline(t, func(cfg *Config) {
		counting.Store = cfg.Store
		cfg.Store = counting
		cfg.Policies = []Policy{compiled(t, "p", `notification.duplicate_of == ""`)}
	})
	s := &shop{}
	res := p.Handle(context.Background(), post(msg("e1", "o1", "t1", 1234)), s.forward)
	expect(t, res, 503, reason.StoreUnavailable)
	if s.count() != 0 {
		t.Fatal("the shop got a notification whose policy could not be evaluated")
	}
	counting.err = nil
	if !claimable(t, st, "e1") {
		t.Error("the claim was not released")
	}
}
