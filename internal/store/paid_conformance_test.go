package store

import (
	"context"
	"errors"
	"testing"
)

func paid(t *testing.T, s Store, ns, order, want string) {
	t.Helper()
	got, err := s.PaidTransaction(ctx, ns, order)
	if err != nil {
		t.Fatalf("PaidTransaction(%s, %s): %v", ns, order, err)
	}
	if got != want {
		t.Fatalf("PaidTransaction(%s, %s) = %q, want %q", ns, order, got, want)
	}
}

// testPaidTransaction: the read sees what RecordPayment remembered, on
// either handle, per namespace, until its ttl, and writes nothing itself.
func testPaidTransaction(t *testing.T, e env) {
	paid(t, e.a, "shop", "o1", "")
	paid(t, e.a, "shop", "o1", "")                // reading twice records nothing
	payment(t, e.a, "shop", "o1", "t1", long, "") // still the first payment
	paid(t, e.a, "shop", "o1", "t1")
	paid(t, e.b, "shop", "o1", "t1")
	payment(t, e.b, "shop", "o1", "t2", long, "t1")
	paid(t, e.a, "shop", "o1", "t1") // the second did not replace it
	paid(t, e.a, "other", "o1", "")
	paid(t, e.a, "shop", "", "")
	payment(t, e.a, "shop", "o2", "t3", short, "")
	paid(t, e.a, "shop", "o2", "t3")
	e.advance(short + slack)
	paid(t, e.b, "shop", "o2", "")
	paid(t, e.a, "shop", "o1", "t1")
}

// testPaidTransactionFailures: a caller error is not an outage, a done
// context is.
func testPaidTransactionFailures(t *testing.T, e env) {
	if _, err := e.a.PaidTransaction(ctx, "", "o1"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("PaidTransaction with an empty namespace: %v, want an invalid-argument error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.a.PaidTransaction(cctx, "shop", "o1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PaidTransaction with a canceled context: %v, want ErrUnavailable", err)
	}
}
