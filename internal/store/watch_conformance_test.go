package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// The watch cases of the conformance suite (DESIGN.md section 11). Watch
// times are the caller's clock, so they use a fixed base time on every
// backend; only key expiry runs on the backend's own clock.

var watchBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func watchOf(provider, order string) Watch {
	return Watch{Provider: provider, OutTradeNo: order, Since: watchBase, HasAmount: true, Amount: 1234, Currency: "CNY",
		Hints: map[string]string{"txn_time": "20260102030405"}}
}

func mustWatch(t *testing.T, s Store, ns string, w Watch, want bool) {
	t.Helper()
	started, err := s.WatchOrder(ctx, ns, w, long)
	if err != nil {
		t.Fatalf("WatchOrder(%s, %s): %v", ns, w.OutTradeNo, err)
	}
	if started != want {
		t.Fatalf("WatchOrder(%s, %s) started = %v, want %v", ns, w.OutTradeNo, started, want)
	}
}

func take(t *testing.T, s Store, ns, provider string, at time.Time, lease time.Duration) []Watch {
	t.Helper()
	ws, err := s.TakeDueWatches(ctx, ns, provider, at, lease, 100)
	if err != nil {
		t.Fatalf("TakeDueWatches(%s, %s): %v", ns, provider, err)
	}
	return ws
}

func orders(ws []Watch) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.OutTradeNo)
	}
	return out
}

func testWatchTakeReschedule(t *testing.T, e env) {
	mustWatch(t, e.a, "ns", watchOf("alipay", "o1"), true)
	mustWatch(t, e.b, "ns", Watch{Provider: "alipay", OutTradeNo: "o1", Since: watchBase.Add(time.Hour)}, false) // first registration wins

	got := take(t, e.a, "ns", "alipay", watchBase, time.Minute)
	if len(got) != 1 {
		t.Fatalf("took %v, want o1", orders(got))
	}
	w := got[0]
	want := watchOf("alipay", "o1")
	if w.OutTradeNo != "o1" || w.Amount != 1234 || w.Currency != "CNY" || !w.HasAmount || !w.Since.Equal(watchBase) ||
		w.Hints["txn_time"] != want.Hints["txn_time"] || w.Attempt != 0 {
		t.Fatalf("took %+v, want the registered watch", w)
	}
	// Held: nobody else gets it within the lease, not even a second later.
	if got := take(t, e.b, "ns", "alipay", watchBase.Add(time.Second), time.Minute); len(got) != 0 {
		t.Fatalf("a held watch was taken again: %v", orders(got))
	}
	w.Attempt = 1
	held, err := e.a.RescheduleWatch(ctx, "ns", w, watchBase.Add(5*time.Minute))
	if err != nil || !held {
		t.Fatalf("RescheduleWatch by the holder = %v, %v; want held", held, err)
	}
	if got := take(t, e.b, "ns", "alipay", watchBase.Add(5*time.Minute-time.Millisecond), time.Minute); len(got) != 0 {
		t.Fatalf("taken before its due time: %v", orders(got))
	}
	got = take(t, e.b, "ns", "alipay", watchBase.Add(5*time.Minute), time.Minute)
	if len(got) != 1 || got[0].Attempt != 1 {
		t.Fatalf("took %+v at the new due time, want o1 at attempt 1", got)
	}
	// The old holder's lease is gone: its reschedule changes nothing.
	if held, err := e.a.RescheduleWatch(ctx, "ns", w, watchBase); err != nil || held {
		t.Fatalf("RescheduleWatch with a lost lease = %v, %v; want not held", held, err)
	}
	// A watch built by hand (no lease) is never held.
	if held, _ := e.a.RescheduleWatch(ctx, "ns", watchOf("alipay", "o1"), watchBase); held {
		t.Fatal("RescheduleWatch of a watch that was never taken reports held")
	}
}

// A holder that dies loses nothing: when its lease runs out the watch is
// due again for whoever asks.
func testWatchLeaseExpiry(t *testing.T, e env) {
	mustWatch(t, e.a, "ns", watchOf("alipay", "o1"), true)
	if got := take(t, e.a, "ns", "alipay", watchBase, time.Minute); len(got) != 1 {
		t.Fatalf("took %v", orders(got))
	}
	if got := take(t, e.b, "ns", "alipay", watchBase.Add(time.Minute), time.Minute); len(got) != 1 {
		t.Fatalf("after the lease: took %v, want o1 again", orders(got))
	}
}

func testWatchPerProviderAndNamespace(t *testing.T, e env) {
	mustWatch(t, e.a, "shared", watchOf("alipay", "o1"), true)
	mustWatch(t, e.a, "shared", watchOf("wechatpay_v3", "o1"), true) // same order number, other provider
	mustWatch(t, e.a, "other", watchOf("alipay", "o2"), true)
	got := take(t, e.a, "shared", "alipay", watchBase, time.Minute)
	if len(got) != 1 || got[0].Provider != "alipay" || got[0].OutTradeNo != "o1" {
		t.Fatalf("alipay in shared took %+v", got)
	}
	got = take(t, e.b, "shared", "wechatpay_v3", watchBase, time.Minute)
	if len(got) != 1 || got[0].Provider != "wechatpay_v3" {
		t.Fatalf("wechatpay_v3 in shared took %+v", got)
	}
	if got := take(t, e.b, "other", "alipay", watchBase, time.Minute); len(got) != 1 || got[0].OutTradeNo != "o2" {
		t.Fatalf("alipay in other took %v", orders(got))
	}
}

func testWatchEnd(t *testing.T, e env) {
	mustWatch(t, e.a, "ns", watchOf("alipay", "o1"), true)
	got := take(t, e.a, "ns", "alipay", watchBase, time.Minute)
	if err := e.b.EndWatch(ctx, "ns", "alipay", "o1"); err != nil {
		t.Fatal(err)
	}
	if held, err := e.a.RescheduleWatch(ctx, "ns", got[0], watchBase); err != nil || held {
		t.Fatalf("RescheduleWatch of an ended watch = %v, %v; want not held", held, err)
	}
	if got := take(t, e.a, "ns", "alipay", watchBase.Add(time.Hour), time.Minute); len(got) != 0 {
		t.Fatalf("an ended watch was taken: %v", orders(got))
	}
	mustWatch(t, e.a, "ns", watchOf("alipay", "o1"), true) // and can start again
}

func testWatchTakeOrderAndMax(t *testing.T, e env) {
	for i, o := range []string{"late", "early", "mid"} {
		w := watchOf("alipay", o)
		w.Since = watchBase.Add(time.Duration([]int{3, 1, 2}[i]) * time.Second)
		mustWatch(t, e.a, "ns", w, true)
	}
	got, err := e.a.TakeDueWatches(ctx, "ns", "alipay", watchBase.Add(time.Hour), time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	if o := orders(got); len(o) != 2 || o[0] != "early" || o[1] != "mid" {
		t.Fatalf("took %v, want the two earliest [early mid]", o)
	}
}

// Two instances polling at once take each due watch exactly once.
func testWatchConcurrentTakeOnce(t *testing.T, e env) {
	const n = 40
	for i := 0; i < n; i++ {
		mustWatch(t, e.a, "ns", watchOf("alipay", "o"+string(rune('A'+i))), true)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		s := e.a
		if i%2 == 1 {
			s = e.b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ws, err := s.TakeDueWatches(ctx, "ns", "alipay", watchBase, time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ws) == 0 {
					return
				}
				mu.Lock()
				for _, w := range ws {
					seen[w.OutTradeNo]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d distinct watches taken, want %d", len(seen), n)
	}
	for o, c := range seen {
		if c != 1 {
			t.Errorf("%s taken %d times", o, c)
		}
	}
}

func testWatchExpires(t *testing.T, e env) {
	w := watchOf("alipay", "o1")
	if _, err := e.a.WatchOrder(ctx, "ns", w, short); err != nil {
		t.Fatal(err)
	}
	e.advance(short + slack)
	if got := take(t, e.a, "ns", "alipay", watchBase, time.Minute); len(got) != 0 {
		t.Fatalf("a watch past its ttl was taken: %v", orders(got))
	}
}

func testWatchInvalid(t *testing.T, e env) {
	for name, err := range map[string]error{
		"no provider": func() error {
			_, err := e.a.WatchOrder(ctx, "ns", Watch{OutTradeNo: "o", Since: watchBase}, long)
			return err
		}(),
		"no order": func() error {
			_, err := e.a.WatchOrder(ctx, "ns", Watch{Provider: "p", Since: watchBase}, long)
			return err
		}(),
		"no since": func() error {
			_, err := e.a.WatchOrder(ctx, "ns", Watch{Provider: "p", OutTradeNo: "o"}, long)
			return err
		}(),
		"colon": func() error {
			_, err := e.a.WatchOrder(ctx, "ns", Watch{Provider: "a:b", OutTradeNo: "o", Since: watchBase}, long)
			return err
		}(),
		"max 0": func() error { _, err := e.a.TakeDueWatches(ctx, "ns", "p", watchBase, time.Minute, 0); return err }(),
		"no txn": func() error {
			_, err := e.a.ClaimDelivery(ctx, "ns", "", SourceNotify, "e", long)
			return err
		}(),
		"colon source": func() error {
			_, err := e.a.ClaimDelivery(ctx, "ns", "t", "a:b", "e", long)
			return err
		}(),
		"no ttl": func() error {
			return e.a.CompleteDelivery(ctx, Completion{OrderNS: "ns", TransactionID: "t", TxnToken: "x", Source: SourceNotify, EventID: "e"})
		}(),
	} {
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v; want an invalid-argument error", name, err)
		}
	}
}
