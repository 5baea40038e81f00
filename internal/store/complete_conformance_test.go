package store

import (
	"sync"
	"testing"
	"time"
)

// The delivery-record cases of the conformance suite (DESIGN.md section
// 11): the provider's paid notification and a recovered payment of one
// transaction share one record, so exactly one of them reaches the shop.

func claimTxn(t *testing.T, s Store, ns, txn, source, eventID string, lease time.Duration, want TxnState) TxnClaim {
	t.Helper()
	c, err := s.ClaimDelivery(ctx, ns, txn, source, eventID, lease)
	if err != nil {
		t.Fatalf("ClaimDelivery(%s, %s, %s): %v", ns, txn, source, err)
	}
	if c.State != want {
		t.Fatalf("ClaimDelivery(%s, %s, %s) = %+v, want state %d", ns, txn, source, c, want)
	}
	if (c.Token != "") != (want == TxnClaimed) {
		t.Fatalf("ClaimDelivery state %d with token %q", c.State, c.Token)
	}
	return c
}

func completeTxn(t *testing.T, s Store, c Completion) {
	t.Helper()
	if err := s.CompleteDelivery(ctx, c); err != nil {
		t.Fatalf("CompleteDelivery(%+v): %v", c, err)
	}
}

func delivered(t *testing.T, s Store, ns, txn, want string) {
	t.Helper()
	if got, err := s.Delivered(ctx, ns, txn); err != nil || got != want {
		t.Fatalf("Delivered(%s, %s) = %q, %v; want %q", ns, txn, got, err, want)
	}
}

func testDeliveryClaimOnce(t *testing.T, e env) {
	c := claimTxn(t, e.a, "ns", "t1", SourceNotify, "evt-1", long, TxnClaimed)
	delivered(t, e.a, "ns", "t1", "") // in flight is not delivered
	got := claimTxn(t, e.b, "ns", "t1", SourceRecovered, "recovered:t1", long, TxnInFlight)
	if got.Source != SourceNotify || got.EventID != "evt-1" {
		t.Fatalf("in flight by %+v, want notify evt-1", got)
	}
	claimTxn(t, e.b, "other", "t1", SourceRecovered, "recovered:t1", long, TxnClaimed) // namespaces apart
	completeTxn(t, e.a, Completion{OrderNS: "ns", TransactionID: "t1", TxnToken: c.Token, Source: SourceNotify, EventID: "evt-1", TTL: long})
	got = claimTxn(t, e.b, "ns", "t1", SourceRecovered, "recovered:t1", long, TxnDelivered)
	if got.Source != SourceNotify || got.EventID != "evt-1" {
		t.Fatalf("delivered by %+v, want notify evt-1", got)
	}
	delivered(t, e.b, "ns", "t1", SourceNotify)
	// Completing again (a retry after a lost answer) changes nothing.
	completeTxn(t, e.a, Completion{OrderNS: "ns", TransactionID: "t1", TxnToken: c.Token, Source: SourceNotify, EventID: "evt-1", TTL: long})
	delivered(t, e.b, "ns", "t1", SourceNotify)

	c = claimTxn(t, e.a, "ns", "t2", SourceRecovered, "recovered:t2", long, TxnClaimed)
	completeTxn(t, e.a, Completion{OrderNS: "ns", TransactionID: "t2", TxnToken: c.Token, Source: SourceRecovered, EventID: "recovered:t2", TTL: short})
	claimTxn(t, e.b, "ns", "t2", SourceNotify, "evt-2", long, TxnDelivered)
	e.advance(short + slack)
	claimTxn(t, e.b, "ns", "t2", SourceNotify, "evt-2", long, TxnClaimed) // forgotten after its ttl
	delivered(t, e.b, "ns", "t1", SourceNotify)                           // the long one stays
}

func testDeliveryReleaseAndLease(t *testing.T, e env) {
	c := claimTxn(t, e.a, "ns", "t1", SourceRecovered, "recovered:t1", long, TxnClaimed)
	if err := e.b.ReleaseDelivery(ctx, "ns", "t1", "not-the-token"); err != nil {
		t.Fatal(err)
	}
	claimTxn(t, e.b, "ns", "t1", SourceNotify, "evt-1", long, TxnInFlight)
	if err := e.a.ReleaseDelivery(ctx, "ns", "t1", c.Token); err != nil {
		t.Fatal(err)
	}
	c = claimTxn(t, e.b, "ns", "t1", SourceNotify, "evt-1", short, TxnClaimed)
	e.advance(short + slack)
	claimTxn(t, e.a, "ns", "t1", SourceRecovered, "recovered:t1", long, TxnClaimed) // the lease ran out
	// The old holder's release does not free the new holder's claim.
	if err := e.b.ReleaseDelivery(ctx, "ns", "t1", c.Token); err != nil {
		t.Fatal(err)
	}
	claimTxn(t, e.b, "ns", "t1", SourceNotify, "evt-1", long, TxnInFlight)
}

// Report-only mode reports a recovered payment once, but the provider's
// own notification of it still reaches the shop.
func testDeliveryReported(t *testing.T, e env) {
	c := claimTxn(t, e.a, "ns", "t1", SourceRecovered, "recovered:t1", long, TxnClaimed)
	completeTxn(t, e.a, Completion{OrderNS: "ns", TransactionID: "t1", TxnToken: c.Token, Source: SourceReported, EventID: "recovered:t1", TTL: long})
	delivered(t, e.b, "ns", "t1", SourceReported)
	if got := claimTxn(t, e.b, "ns", "t1", SourceRecovered, "recovered:t1", long, TxnDelivered); got.Source != SourceReported {
		t.Fatalf("second recovery sees %+v, want reported", got)
	}
	c = claimTxn(t, e.b, "ns", "t1", SourceNotify, "evt-1", long, TxnClaimed)
	completeTxn(t, e.b, Completion{OrderNS: "ns", TransactionID: "t1", TxnToken: c.Token, Source: SourceNotify, EventID: "evt-1", TTL: long})
	delivered(t, e.a, "ns", "t1", SourceNotify)
}

// One completion writes the event done, the transaction delivered and the
// watch ended, wherever each key lives.
func testCompleteDelivery(t *testing.T, e env) {
	mustWatch(t, e.a, "alipay:m1", watchOf("alipay", "o1"), true)
	mustWatch(t, e.a, "alipay:m1", watchOf("alipay", "o2"), true)
	ev := claim(t, e.a, "alipay", "evt-1", Claimed)
	tx := claimTxn(t, e.a, "alipay:m1", "t1", SourceNotify, "evt-1", long, TxnClaimed)
	completeTxn(t, e.b, Completion{EventNS: "alipay", EventID: "evt-1", EventToken: ev.Token,
		OrderNS: "alipay:m1", TransactionID: "t1", TxnToken: tx.Token, Source: SourceNotify,
		Provider: "alipay", OutTradeNo: "o1", TTL: long})
	claim(t, e.b, "alipay", "evt-1", Done)
	delivered(t, e.b, "alipay:m1", "t1", SourceNotify)
	if got := take(t, e.b, "alipay:m1", "alipay", watchBase, time.Minute); len(got) != 1 || got[0].OutTradeNo != "o2" {
		t.Fatalf("after the completion took %v, want o2 only", orders(got))
	}

	// Claims whose leases lapsed with nobody taking them over are still
	// completed: the shop has the payment.
	ev = claimFor(t, e.a, "alipay", "evt-2", short, Claimed)
	tx = claimTxn(t, e.a, "alipay:m1", "t2", SourceNotify, "evt-2", short, TxnClaimed)
	e.advance(short + slack)
	completeTxn(t, e.a, Completion{EventNS: "alipay", EventID: "evt-2", EventToken: ev.Token,
		OrderNS: "alipay:m1", TransactionID: "t2", TxnToken: tx.Token, Source: SourceNotify, TTL: long})
	claim(t, e.b, "alipay", "evt-2", Done)
	delivered(t, e.b, "alipay:m1", "t2", SourceNotify)

	// The event alone, and the watch alone.
	ev = claim(t, e.a, "alipay", "evt-3", Claimed)
	completeTxn(t, e.a, Completion{EventNS: "alipay", EventID: "evt-3", EventToken: ev.Token, TTL: long})
	claim(t, e.b, "alipay", "evt-3", Done)
	completeTxn(t, e.a, Completion{OrderNS: "alipay:m1", Provider: "alipay", OutTradeNo: "o2", TTL: long})
	if got := take(t, e.b, "alipay:m1", "alipay", watchBase, time.Minute); len(got) != 0 {
		t.Fatalf("the ended watch was taken: %v", orders(got))
	}
}

func testCompleteDeliveryTakenOver(t *testing.T, e env) {
	old := claimTxn(t, e.a, "ns", "t1", SourceNotify, "evt-1", short, TxnClaimed)
	e.advance(short + slack)
	claimTxn(t, e.b, "ns", "t1", SourceRecovered, "recovered:t1", long, TxnClaimed)
	completeTxn(t, e.a, Completion{OrderNS: "ns", TransactionID: "t1", TxnToken: old.Token, Source: SourceNotify, EventID: "evt-1", TTL: long})
	if got := claimTxn(t, e.a, "ns", "t1", SourceNotify, "evt-1", long, TxnInFlight); got.Source != SourceRecovered {
		t.Fatalf("the old holder's completion overwrote the new holder: %+v", got)
	}
}

// The race of issue 17: a paid notification and the recovery worker (on
// two instances) claim one transaction at once; one of them wins.
func testDeliveryRace(t *testing.T, e env) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[string]int{}
	start := make(chan struct{})
	for i := range 16 {
		s, src, ev := e.a, SourceNotify, "evt-1"
		if i%2 == 1 {
			s, src, ev = e.b, SourceRecovered, "recovered:t1"
		}
		wg.Go(func() {
			<-start
			c, err := s.ClaimDelivery(ctx, "ns", "t1", src, ev, long)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if c.State == TxnClaimed {
				won[src]++
			}
		})
	}
	close(start)
	wg.Wait()
	if won[SourceNotify]+won[SourceRecovered] != 1 {
		t.Fatalf("claims won %v, want exactly one", won)
	}
}
