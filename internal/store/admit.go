package store

import (
	"context"
	"time"
)

// Admission is the store's work before a notification is forwarded, done
// by Admitter.AdmitEvent as one step: record the signed nonce, claim the
// event, and record the paid transaction of the order. The steps and
// their conditions are those of the single operations in the pipeline's
// order (RecordNonce, ClaimEvent, RecordPayment), so one step answers what
// the three calls would have:
//   - a nonce seen before refuses: nothing is claimed or recorded;
//   - an event in flight or done records no payment;
//   - only a claimed event records its payment.
type Admission struct {
	NS      string // the event's and the nonce's namespace (the provider)
	EventID string
	Lease   time.Duration
	// Nonce is the signed nonce, "" where the provider signs none;
	// NonceTTL is how long it is remembered.
	Nonce    string
	NonceTTL time.Duration
	// Payment, when set, is recorded once the event is claimed; the caller
	// sets it only where nothing between the claim and the forward can
	// refuse the notification (no query, order lookup, policy or recovery
	// hook guarding its namespace), since the
	// duplicate-payment record is written only for a notification that
	// passed them.
	Payment *Payment
}

// Payment is an order's paid transaction, as RecordPayment takes it: an
// empty OutTradeNo or TransactionID records nothing.
type Payment struct {
	NS            string // the order namespace
	OutTradeNo    string
	TransactionID string
	TTL           time.Duration
}

// Admitted is AdmitEvent's answer.
type Admitted struct {
	// Replayed: the nonce was seen within its TTL; nothing else was done
	// and Claim is zero.
	Replayed bool
	Claim    Claim
	// DuplicateOf is RecordPayment's answer (the order's earlier, different
	// transaction), for a claimed event with a Payment; "" otherwise.
	DuplicateOf string
}

// Admitter does an Admission as one atomic step: on Redis one script, one
// round trip (on Redis Cluster, where the keys lie in separate hash slots,
// the single operations in order: see Redis.AdmitEvent).
type Admitter interface {
	AdmitEvent(ctx context.Context, a Admission) (Admitted, error)
}

// check rejects what the single operations would reject, before anything
// is written.
func (a *Admission) check() error {
	err := firstErr(checkID("namespace", a.NS), checkID("event id", a.EventID), checkDuration("lease", a.Lease))
	if err == nil && a.Nonce != "" {
		err = checkDuration("nonce ttl", a.NonceTTL)
	}
	if err == nil && a.Payment != nil {
		err = firstErr(checkID("order namespace", a.Payment.NS), checkDuration("payment ttl", a.Payment.TTL))
	}
	return err
}

// records reports whether the admission writes a payment: RecordPayment's
// rule for empty ids.
func (a *Admission) records() bool {
	return a.Payment != nil && a.Payment.OutTradeNo != "" && a.Payment.TransactionID != ""
}

// singleOps are the operations an admission is made of.
type singleOps interface {
	RecordNonce(ctx context.Context, ns, nonce string, ttl time.Duration) (bool, error)
	ClaimEvent(ctx context.Context, ns, eventID string, lease time.Duration) (Claim, error)
	RecordPayment(ctx context.Context, ns, outTradeNo, transactionID string, ttl time.Duration) (string, error)
}

// admitInSteps is an admission made of the single operations, one after
// the other, as the pipeline made them before AdmitEvent. A payment that
// cannot be recorded leaves the claim for the caller to release, as
// before.
func admitInSteps(ctx context.Context, s singleOps, a Admission) (Admitted, error) {
	if err := a.check(); err != nil {
		return Admitted{}, err
	}
	if a.Nonce != "" {
		fresh, err := s.RecordNonce(ctx, a.NS, a.Nonce, a.NonceTTL)
		if err != nil || !fresh {
			return Admitted{Replayed: err == nil}, err
		}
	}
	c, err := s.ClaimEvent(ctx, a.NS, a.EventID, a.Lease)
	if err != nil || c.State != Claimed || !a.records() {
		return Admitted{Claim: c}, err
	}
	earlier, err := s.RecordPayment(ctx, a.Payment.NS, a.Payment.OutTradeNo, a.Payment.TransactionID, a.Payment.TTL)
	return Admitted{Claim: c, DuplicateOf: earlier}, err
}

// AdmitEvent implements Admitter: the three steps under one lock.
func (m *Memory) AdmitEvent(ctx context.Context, a Admission) (Admitted, error) {
	if err := a.check(); err != nil {
		return Admitted{}, err
	}
	if err := m.lock(ctx); err != nil {
		return Admitted{}, err
	}
	defer m.mu.Unlock()
	now := m.now()
	if a.Nonce != "" {
		k := key(m.prefix, a.NS, kindNonce, a.Nonce)
		if _, seen := m.get(k, now); seen {
			return Admitted{Replayed: true}, nil
		}
		m.entries[k] = memEntry{value: "1", expires: now.Add(a.NonceTTL)}
	}
	c := m.claimLocked(a.NS, a.EventID, a.Lease, now)
	if c.State != Claimed || !a.records() {
		return Admitted{Claim: c}, nil
	}
	earlier := m.recordPaymentLocked(a.Payment.NS, a.Payment.OutTradeNo, a.Payment.TransactionID, a.Payment.TTL, now)
	return Admitted{Claim: c, DuplicateOf: earlier}, nil
}

func (o *observed) AdmitEvent(ctx context.Context, a Admission) (Admitted, error) {
	got, err := o.s.AdmitEvent(ctx, a)
	o.check(ctx, "AdmitEvent", err)
	return got, err
}
