package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// The admission's cases of the conformance suite: AdmitEvent answers what
// RecordNonce, ClaimEvent and RecordPayment in that order would have, on
// every backend (on Redis Cluster it is those calls).
var admitConformance = []struct {
	name string
	fn   func(t *testing.T, e env)
}{
	{"AdmitNonceClaimPayment", testAdmitAll},
	{"AdmitReplayedNonceWritesNothing", testAdmitReplayed},
	{"AdmitInFlightOrDoneRecordsNoPayment", testAdmitNotClaimed},
	{"AdmitDuplicatePayment", testAdmitDuplicatePayment},
	{"AdmitWithoutNonceOrPayment", testAdmitBare},
	{"AdmitLeaseAndTTLs", testAdmitExpiry},
	{"AdmitConcurrentOneWinner", testAdmitConcurrent},
	{"AdmitInvalidWritesNothing", testAdmitInvalid},
	{"AdmitCanceledWritesNothing", testAdmitCanceled},
}

func admission(id, nonce, order, txn string) Admission {
	a := Admission{NS: "wechatpay_v3", EventID: id, Lease: long, Nonce: nonce, NonceTTL: long}
	if order != "" || txn != "" {
		a.Payment = &Payment{NS: "shop", OutTradeNo: order, TransactionID: txn, TTL: long}
	}
	return a
}

func admit(t *testing.T, s Store, a Admission) Admitted {
	t.Helper()
	got, err := s.AdmitEvent(ctx, a)
	if err != nil {
		t.Fatalf("AdmitEvent(%s): %v", a.EventID, err)
	}
	if (got.Claim.Token != "") != (got.Claim.State == Claimed) {
		t.Fatalf("AdmitEvent(%s) = %v with token %q: a token belongs to Claimed and only to it", a.EventID, got.Claim.State, got.Claim.Token)
	}
	if got.Replayed && (got.Claim != Claim{} || got.DuplicateOf != "") {
		t.Fatalf("AdmitEvent(%s) replayed but %+v", a.EventID, got)
	}
	return got
}

// A fresh admission writes all three, each visible to the single
// operations of another instance.
func testAdmitAll(t *testing.T, e env) {
	got := admit(t, e.a, admission("evt1", "n1", "o1", "t1"))
	if got.Replayed || got.Claim.State != Claimed || got.DuplicateOf != "" {
		t.Fatalf("fresh admission: %+v", got)
	}
	nonce(t, e.b, "wechatpay_v3", "n1", long, false)
	claim(t, e.b, "wechatpay_v3", "evt1", InFlight)
	payment(t, e.b, "shop", "o1", "t2", long, "t1")
	// The claim is an ordinary one: its token completes it.
	complete(t, e.b, "wechatpay_v3", "evt1", got.Claim.Token, long)
	claim(t, e.a, "wechatpay_v3", "evt1", Done)
}

// A replayed nonce refuses before anything is claimed or recorded.
func testAdmitReplayed(t *testing.T, e env) {
	nonce(t, e.b, "wechatpay_v3", "n1", long, true)
	if got := admit(t, e.a, admission("evt1", "n1", "o1", "t1")); !got.Replayed {
		t.Fatalf("admission with a seen nonce: %+v, want replayed", got)
	}
	claim(t, e.b, "wechatpay_v3", "evt1", Claimed)
	payment(t, e.b, "shop", "o1", "t2", long, "")
}

// An event in flight or done is not claimed and records no payment; its
// nonce is recorded all the same (RecordNonce came first).
func testAdmitNotClaimed(t *testing.T, e env) {
	c := claim(t, e.b, "wechatpay_v3", "evt1", Claimed)
	if got := admit(t, e.a, admission("evt1", "n1", "o1", "t1")); got.Claim.State != InFlight || got.Replayed || got.DuplicateOf != "" {
		t.Fatalf("admission of an event in flight: %+v", got)
	}
	nonce(t, e.b, "wechatpay_v3", "n1", long, false)
	payment(t, e.b, "shop", "o1", "t9", long, "") // t1 was not recorded; t9 is now

	complete(t, e.b, "wechatpay_v3", "evt1", c.Token, long)
	if got := admit(t, e.a, admission("evt1", "n2", "o2", "t2")); got.Claim.State != Done || got.DuplicateOf != "" {
		t.Fatalf("admission of a done event: %+v", got)
	}
	payment(t, e.b, "shop", "o2", "t8", long, "")
}

// A claimed event's payment is compared as RecordPayment compares it.
func testAdmitDuplicatePayment(t *testing.T, e env) {
	payment(t, e.b, "shop", "o1", "t1", long, "")
	if got := admit(t, e.a, admission("evt1", "", "o1", "t2")); got.Claim.State != Claimed || got.DuplicateOf != "t1" {
		t.Fatalf("second transaction of a paid order: %+v, want duplicate of t1", got)
	}
	if got := admit(t, e.a, admission("evt2", "", "o1", "t1")); got.Claim.State != Claimed || got.DuplicateOf != "" {
		t.Fatalf("the order's own transaction again: %+v", got)
	}
	payment(t, e.b, "shop", "o1", "t3", long, "t1") // t2 did not replace t1
}

// No nonce and no payment is a bare claim; a payment with an empty id
// records nothing (RecordPayment's rule).
func testAdmitBare(t *testing.T, e env) {
	if got := admit(t, e.a, admission("evt1", "", "", "")); got.Claim.State != Claimed {
		t.Fatalf("bare admission: %+v", got)
	}
	claim(t, e.b, "wechatpay_v3", "evt1", InFlight)
	if got := admit(t, e.a, admission("evt2", "", "o1", "")); got.Claim.State != Claimed || got.DuplicateOf != "" {
		t.Fatalf("admission without a transaction id: %+v", got)
	}
	payment(t, e.b, "shop", "o1", "t1", long, "")
}

// The lease and the nonce's TTL reach the store as the single operations'
// would.
func testAdmitExpiry(t *testing.T, e env) {
	a := admission("evt1", "n1", "o1", "t1")
	a.Lease, a.NonceTTL, a.Payment.TTL = short, short, short
	admit(t, e.a, a)
	b := admission("evt2", "n2", "o2", "t2") // long: still there below
	admit(t, e.a, b)
	e.advance(short + slack)
	claim(t, e.b, "wechatpay_v3", "evt1", Claimed)
	nonce(t, e.b, "wechatpay_v3", "n1", long, true)
	payment(t, e.b, "shop", "o1", "t9", long, "")
	claim(t, e.b, "wechatpay_v3", "evt2", InFlight)
	nonce(t, e.b, "wechatpay_v3", "n2", long, false)
	payment(t, e.b, "shop", "o2", "t9", long, "t2")
}

// Two instances admitting one event at once: one claims it, and only its
// payment is recorded.
func testAdmitConcurrent(t *testing.T, e env) {
	const n = 16
	var wg sync.WaitGroup
	results := make([]Admitted, n)
	errs := make([]error, n)
	for i := range n {
		s := e.a
		if i%2 == 1 {
			s = e.b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.AdmitEvent(ctx, admission("evt1", fmt.Sprint("n", i), "o1", fmt.Sprint("t", i)))
		}()
	}
	wg.Wait()
	winner := -1
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("admission %d: %v", i, errs[i])
		}
		switch r.Claim.State {
		case Claimed:
			if winner >= 0 {
				t.Fatalf("admissions %d and %d both claimed evt1", winner, i)
			}
			winner = i
		case InFlight:
		default:
			t.Fatalf("admission %d: %+v", i, r)
		}
	}
	if winner < 0 {
		t.Fatal("no admission claimed evt1")
	}
	payment(t, e.b, "shop", "o1", "probe", long, fmt.Sprint("t", winner))
}

// Caller errors are not outages, and a refused admission wrote nothing.
func testAdmitInvalid(t *testing.T, e env) {
	bad := map[string]func(a *Admission){
		"empty ns":          func(a *Admission) { a.NS = "" },
		"empty event id":    func(a *Admission) { a.EventID = "" },
		"zero lease":        func(a *Admission) { a.Lease = 0 },
		"zero nonce ttl":    func(a *Admission) { a.NonceTTL = 0 },
		"empty order ns":    func(a *Admission) { a.Payment.NS = "" },
		"negative pay ttl":  func(a *Admission) { a.Payment.TTL = -1 },
		"sub-ms nonce ttl":  func(a *Admission) { a.NonceTTL = 1 },
		"sub-ms lease":      func(a *Admission) { a.Lease = 1 },
		"zero payment ttl":  func(a *Admission) { a.Payment.TTL = 0 },
		"empty ns, no more": func(a *Admission) { a.NS, a.Nonce, a.Payment = "", "", nil },
	}
	for name, mod := range bad {
		a := admission("evt1", "n1", "o1", "t1")
		mod(&a)
		_, err := e.a.AdmitEvent(ctx, a)
		if err == nil || errors.Is(err, ErrUnavailable) || !errors.Is(err, errInvalid) {
			t.Errorf("%s: %v; want errInvalid, not ErrUnavailable", name, err)
		}
	}
	claim(t, e.b, "wechatpay_v3", "evt1", Claimed)
	nonce(t, e.b, "wechatpay_v3", "n1", long, true)
	payment(t, e.b, "shop", "o1", "t9", long, "")
}

func testAdmitCanceled(t *testing.T, e env) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := e.a.AdmitEvent(cctx, admission("evt1", "n1", "o1", "t1"))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("AdmitEvent with a canceled context: %v; want ErrUnavailable wrapping context.Canceled", err)
	}
	claim(t, e.b, "wechatpay_v3", "evt1", Claimed)
	nonce(t, e.b, "wechatpay_v3", "n1", long, true)
	payment(t, e.b, "shop", "o1", "t9", long, "")
}
