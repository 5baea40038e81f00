package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The conformance suite is the Store contract in executable form: every
// implementation runs exactly these tests (memory with a fake clock, Redis
// standalone, Redis over TLS and Redis Cluster with real expiry), so the
// pipeline cannot tell them apart.

// env is one test's view of a fresh, empty store.
type env struct {
	// a and b are two handles on the same data: for Redis two separate
	// clients (two sidecars sharing one Redis), for memory the same store.
	a, b Store
	// advance lets d pass for expiry purposes: moves the fake clock, or
	// sleeps while Redis's own clock runs.
	advance func(d time.Duration)
}

// backend opens an env; every call must return an isolated store (a fresh
// Memory, or a fresh key prefix on a shared Redis) so subtests run in
// parallel.
type backend func(t *testing.T) env

// Timing: Redis expires keys in real time, and a busy CI machine can stall
// any step for a second. So no check depends on being fast. A check that
// something is gone uses short durations and sleeps past them (a sleep
// never ends early, and Redis expires on access to the millisecond). A
// check that something is still there uses long durations, out of reach of
// any stall, and looks after the short ones have passed: that still
// catches a unit mix-up (seconds sent as milliseconds expire at once).
const (
	short = 200 * time.Millisecond
	long  = 10 * time.Second
	slack = 100 * time.Millisecond
)

func runConformance(t *testing.T, open backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e env)
	}{
		{"ClaimCompleteDone", testClaimCompleteDone},
		{"SecondClaimInFlight", testSecondClaimInFlight},
		{"ReleaseMakesClaimable", testRelease},
		{"LeaseExpiryFreesEvent", testLeaseExpiry},
		{"StaleTokenDoesNotClobberNewOwner", testStaleToken},
		{"WrongTokenIsIgnored", testWrongToken},
		{"CompleteAfterExpiryWithoutTakeover", testCompleteAfterExpiry},
		{"CompleteIsIdempotent", testCompleteIdempotent},
		{"RenewKeepsClaim", testRenew},
		{"RenewOnlyOwnClaim", testRenewNotOwn},
		{"Nonce", testNonce},
		{"Payment", testPayment},
		{"PaymentEmptyIDs", testPaymentEmpty},
		{"PaidTransaction", testPaidTransaction},
		{"PaidTransactionFailures", testPaidTransactionFailures},
		{"NamespacesIndependent", testNamespaces},
		{"ConcurrentClaimsOneWinner", testConcurrentClaims},
		{"InvalidArguments", testInvalid},
		{"CanceledContext", testCanceled},
		{"WatchTakeReschedule", testWatchTakeReschedule},
		{"WatchLeaseExpiry", testWatchLeaseExpiry},
		{"WatchPerProviderAndNamespace", testWatchPerProviderAndNamespace},
		{"WatchEnd", testWatchEnd},
		{"WatchTakeOrderAndMax", testWatchTakeOrderAndMax},
		{"WatchConcurrentTakeOnce", testWatchConcurrentTakeOnce},
		{"WatchExpires", testWatchExpires},
		{"DeliveryClaimOnce", testDeliveryClaimOnce},
		{"DeliveryReleaseAndLease", testDeliveryReleaseAndLease},
		{"DeliveryReportedTakenByNotify", testDeliveryReported},
		{"CompleteDeliveryAtomic", testCompleteDelivery},
		{"CompleteDeliveryNotTakenOver", testCompleteDeliveryTakenOver},
		{"DeliveryRaceOneWinner", testDeliveryRace},
		{"WatchInvalid", testWatchInvalid},
	}
	tests = append(tests, admitConformance...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

func claim(t *testing.T, s Store, ns, id string, want ClaimState) Claim {
	t.Helper()
	return claimFor(t, s, ns, id, long, want)
}

func claimFor(t *testing.T, s Store, ns, id string, lease time.Duration, want ClaimState) Claim {
	t.Helper()
	c, err := s.ClaimEvent(ctx, ns, id, lease)
	if err != nil {
		t.Fatalf("ClaimEvent(%s, %s): %v", ns, id, err)
	}
	if c.State != want {
		t.Fatalf("ClaimEvent(%s, %s) = %v, want %v", ns, id, c.State, want)
	}
	if (c.Token != "") != (want == Claimed) {
		t.Fatalf("ClaimEvent(%s, %s) = %v with token %q: a token belongs to Claimed and only to it", ns, id, c.State, c.Token)
	}
	return c
}

func complete(t *testing.T, s Store, ns, id, token string, ttl time.Duration) {
	t.Helper()
	if err := s.CompleteEvent(ctx, ns, id, token, ttl); err != nil {
		t.Fatalf("CompleteEvent: %v", err)
	}
}

func release(t *testing.T, s Store, ns, id, token string) {
	t.Helper()
	if err := s.ReleaseEvent(ctx, ns, id, token); err != nil {
		t.Fatalf("ReleaseEvent: %v", err)
	}
}

func testClaimCompleteDone(t *testing.T, e env) {
	c := claim(t, e.a, "alipay", "evt1", Claimed)
	if len(c.Token) != 32 {
		t.Errorf("token %q: want 32 hex digits (16 random bytes)", c.Token)
	}
	complete(t, e.a, "alipay", "evt1", c.Token, long)
	claim(t, e.a, "alipay", "evt1", Done)
	claim(t, e.b, "alipay", "evt1", Done) // the other instance sees it too

	c2 := claim(t, e.a, "alipay", "evt2", Claimed)
	complete(t, e.a, "alipay", "evt2", c2.Token, short)
	e.advance(short + slack)
	claim(t, e.a, "alipay", "evt1", Done)    // still within its dedup_ttl
	claim(t, e.a, "alipay", "evt2", Claimed) // forgotten after its dedup_ttl
}

func testSecondClaimInFlight(t *testing.T, e env) {
	claim(t, e.a, "alipay", "evt1", Claimed)
	claim(t, e.a, "alipay", "evt1", InFlight)
	claim(t, e.b, "alipay", "evt1", InFlight)
}

func testRelease(t *testing.T, e env) {
	c1 := claim(t, e.a, "alipay", "evt1", Claimed)
	release(t, e.a, "alipay", "evt1", c1.Token)
	c2 := claim(t, e.b, "alipay", "evt1", Claimed)
	if c2.Token == c1.Token {
		t.Fatalf("a new claim reused token %q", c1.Token)
	}
	// Releasing a done event must not forget it: that would let the
	// provider's retry through to the shop a second time.
	complete(t, e.b, "alipay", "evt1", c2.Token, long)
	release(t, e.b, "alipay", "evt1", c2.Token)
	claim(t, e.a, "alipay", "evt1", Done)
}

func testLeaseExpiry(t *testing.T, e env) {
	claim(t, e.a, "alipay", "held", Claimed)
	claimFor(t, e.a, "alipay", "evt1", short, Claimed)
	e.advance(short + slack)
	claim(t, e.b, "alipay", "held", InFlight) // its lease has not run out
	// The owner of evt1 crashed: its claim no longer blocks the event.
	claim(t, e.b, "alipay", "evt1", Claimed)
}

func testStaleToken(t *testing.T, e env) {
	old := claimFor(t, e.a, "alipay", "evt1", short, Claimed)
	e.advance(short + slack)
	cur := claim(t, e.b, "alipay", "evt1", Claimed)

	// The old owner wakes up and tries to finish: neither call may touch
	// the new owner's claim.
	complete(t, e.a, "alipay", "evt1", old.Token, long)
	claim(t, e.a, "alipay", "evt1", InFlight)
	release(t, e.a, "alipay", "evt1", old.Token)
	claim(t, e.a, "alipay", "evt1", InFlight)

	complete(t, e.b, "alipay", "evt1", cur.Token, long)
	claim(t, e.a, "alipay", "evt1", Done)
	// Nor can a stale release undo the new owner's completion.
	release(t, e.a, "alipay", "evt1", old.Token)
	claim(t, e.a, "alipay", "evt1", Done)
}

func testWrongToken(t *testing.T, e env) {
	claim(t, e.a, "alipay", "evt1", Claimed)
	wrong := newToken()
	release(t, e.b, "alipay", "evt1", wrong)
	claim(t, e.b, "alipay", "evt1", InFlight)
	complete(t, e.b, "alipay", "evt1", wrong, long)
	claim(t, e.b, "alipay", "evt1", InFlight)
	// On an absent event, a release is a no-op and not an error.
	release(t, e.b, "alipay", "nosuch", wrong)
	claim(t, e.b, "alipay", "nosuch", Claimed)
}

// The shop accepted a delivery whose lease ran out before the answer came
// and nobody took the event over meanwhile: completing must still record it,
// or the provider's next retry would be forwarded again.
func testCompleteAfterExpiry(t *testing.T, e env) {
	c1 := claimFor(t, e.a, "alipay", "evt1", short, Claimed)
	c2 := claimFor(t, e.a, "alipay", "evt2", short, Claimed)
	e.advance(short + slack)
	complete(t, e.a, "alipay", "evt1", c1.Token, long)
	complete(t, e.a, "alipay", "evt2", c2.Token, short)
	claim(t, e.b, "alipay", "evt1", Done)
	e.advance(short + slack) // the dedup_ttl counts from completion
	claim(t, e.b, "alipay", "evt1", Done)
	claim(t, e.b, "alipay", "evt2", Claimed)
}

func testCompleteIdempotent(t *testing.T, e env) {
	c := claim(t, e.a, "alipay", "evt1", Claimed)
	complete(t, e.a, "alipay", "evt1", c.Token, long)
	complete(t, e.a, "alipay", "evt1", c.Token, long)
	claim(t, e.a, "alipay", "evt1", Done)
}

func nonce(t *testing.T, s Store, ns, n string, ttl time.Duration, want bool) {
	t.Helper()
	fresh, err := s.RecordNonce(ctx, ns, n, ttl)
	if err != nil {
		t.Fatalf("RecordNonce(%s, %s): %v", ns, n, err)
	}
	if fresh != want {
		t.Fatalf("RecordNonce(%s, %s) = %v, want %v", ns, n, fresh, want)
	}
}

func testNonce(t *testing.T, e env) {
	nonce(t, e.a, "stripe", "n1", long, true)
	nonce(t, e.a, "stripe", "n1", long, false)
	nonce(t, e.b, "stripe", "n1", long, false)
	nonce(t, e.b, "stripe", "n2", short, true)
	e.advance(short + slack)
	nonce(t, e.a, "stripe", "n1", long, false) // still within its window
	nonce(t, e.a, "stripe", "n2", long, true)  // fresh again after its ttl
	nonce(t, e.a, "stripe", "n2", long, false)
}

func payment(t *testing.T, s Store, ns, order, txn string, ttl time.Duration, want string) {
	t.Helper()
	got, err := s.RecordPayment(ctx, ns, order, txn, ttl)
	if err != nil {
		t.Fatalf("RecordPayment(%s, %s, %s): %v", ns, order, txn, err)
	}
	if got != want {
		t.Fatalf("RecordPayment(%s, %s, %s) = %q, want %q", ns, order, txn, got, want)
	}
}

func testPayment(t *testing.T, e env) {
	payment(t, e.a, "shop", "o1", "t1", long, "")
	payment(t, e.a, "shop", "o1", "t1", long, "")   // the same payment again
	payment(t, e.b, "shop", "o1", "t2", long, "t1") // paid twice
	payment(t, e.b, "shop", "o1", "t1", long, "")   // the second did not replace the first
	payment(t, e.a, "shop", "o2", "t2", short, "")
	e.advance(short + slack)
	payment(t, e.a, "shop", "o1", "t3", long, "t1")
	payment(t, e.a, "shop", "o2", "t3", long, "") // forgotten after its ttl
}

func testPaymentEmpty(t *testing.T, e env) {
	payment(t, e.a, "shop", "o1", "", long, "")
	payment(t, e.a, "shop", "o1", "t1", long, "") // the empty id was not recorded
	payment(t, e.a, "shop", "", "t2", long, "")
	payment(t, e.a, "shop", "", "t3", long, "")
}

func testNamespaces(t *testing.T, e env) {
	c := claim(t, e.a, "alipay", "same", Claimed)
	claim(t, e.a, "wechatpay_v3", "same", Claimed)
	complete(t, e.a, "alipay", "same", c.Token, long)
	claim(t, e.a, "wechatpay_v3", "same", InFlight)
	claim(t, e.a, "alipay", "same", Done)

	nonce(t, e.a, "alipay", "same", long, true)
	nonce(t, e.a, "stripe", "same", long, true)

	payment(t, e.a, "shopA", "o1", "t1", long, "")
	payment(t, e.a, "shopB", "o1", "t2", long, "")

	// The kinds do not collide either: an event, a nonce and an order
	// with one id in one namespace are three things.
	claim(t, e.a, "x", "id", Claimed)
	nonce(t, e.a, "x", "id", long, true)
	payment(t, e.a, "x", "id", "t1", long, "")
}

// The exactly-once guarantee: whatever the interleaving, one caller wins.
func testConcurrentClaims(t *testing.T, e env) {
	const n = 20
	var (
		wg       sync.WaitGroup
		claimed  atomic.Int32
		inFlight atomic.Int32
		start    = make(chan struct{})
		errs     = make(chan error, n)
	)
	for i := range n {
		s := e.a
		if i%2 == 1 {
			s = e.b
		}
		wg.Go(func() {
			<-start
			c, err := s.ClaimEvent(ctx, "alipay", "race", 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			switch c.State {
			case Claimed:
				claimed.Add(1)
			case InFlight:
				inFlight.Add(1)
			default:
				errs <- fmt.Errorf("unexpected state %v", c.State)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if claimed.Load() != 1 || inFlight.Load() != n-1 {
		t.Fatalf("%d concurrent claims: %d claimed, %d in flight; want 1 and %d", n, claimed.Load(), inFlight.Load(), n-1)
	}

	// The same for nonces and payments.
	var fresh, firstPay atomic.Int32
	var wg2 sync.WaitGroup
	for i := range n {
		s := e.a
		if i%2 == 1 {
			s = e.b
		}
		wg2.Go(func() {
			if ok, err := s.RecordNonce(ctx, "stripe", "race", time.Minute); err != nil {
				t.Error(err)
			} else if ok {
				fresh.Add(1)
			}
			if earlier, err := s.RecordPayment(ctx, "shop", "race", fmt.Sprint("t", i), time.Minute); err != nil {
				t.Error(err)
			} else if earlier == "" {
				firstPay.Add(1)
			}
		})
	}
	wg2.Wait()
	if fresh.Load() != 1 || firstPay.Load() != 1 {
		t.Fatalf("%d concurrent nonces: %d fresh; payments: %d first; want 1 and 1", n, fresh.Load(), firstPay.Load())
	}
}

func renew(t *testing.T, s Store, ns, id, token string, lease time.Duration, want bool) {
	t.Helper()
	held, err := s.RenewEvent(ctx, ns, id, token, lease)
	if err != nil || held != want {
		t.Fatalf("RenewEvent(%s, %s): held %v, %v; want %v", ns, id, held, err, want)
	}
}

// Issue 10 item 4: while the shop is still answering, renewing the claim
// keeps every other copy out past the original lease.
func testRenew(t *testing.T, e env) {
	c := claimFor(t, e.a, "alipay", "evt1", short, Claimed)
	for range 3 {
		e.advance(short / 2)
		renew(t, e.a, "alipay", "evt1", c.Token, short, true)
	}
	// Well past the first lease: still in flight.
	claim(t, e.b, "alipay", "evt1", InFlight)
	e.advance(short + slack)
	// The owner stopped renewing (it crashed): the claim expires.
	claim(t, e.b, "alipay", "evt1", Claimed)
}

// A claim that is no longer the caller's is left alone: not a taken-over
// one, not a done one, not a released one.
func testRenewNotOwn(t *testing.T, e env) {
	old := claimFor(t, e.a, "alipay", "evt1", short, Claimed)
	e.advance(short + slack)
	claimFor(t, e.b, "alipay", "evt1", short, Claimed)
	renew(t, e.a, "alipay", "evt1", old.Token, long, false)
	e.advance(short + slack)
	claim(t, e.a, "alipay", "evt1", Claimed) // the stale renewal did not extend b's claim

	done := claim(t, e.a, "alipay", "evt2", Claimed)
	complete(t, e.a, "alipay", "evt2", done.Token, long)
	renew(t, e.a, "alipay", "evt2", done.Token, short, false)
	e.advance(short + slack)
	claim(t, e.b, "alipay", "evt2", Done)

	rel := claim(t, e.a, "alipay", "evt3", Claimed)
	release(t, e.a, "alipay", "evt3", rel.Token)
	renew(t, e.a, "alipay", "evt3", rel.Token, long, false)
	claim(t, e.b, "alipay", "evt3", Claimed)
}

// Caller errors are not outages: they must not be mistaken for a 503.
func testInvalid(t *testing.T, e env) {
	checks := map[string]error{
		"zero lease": func() error { _, err := e.a.ClaimEvent(ctx, "ns", "id", 0); return err }(),
		"empty id":   func() error { _, err := e.a.ClaimEvent(ctx, "ns", "", long); return err }(),
		"empty ns":   func() error { _, err := e.a.ClaimEvent(ctx, "", "id", long); return err }(),
		"zero ttl":   e.a.CompleteEvent(ctx, "ns", "id", "tok", 0),
		"sub-ms ttl": func() error { _, err := e.a.RecordNonce(ctx, "ns", "n", time.Microsecond); return err }(),
		"no token":   e.a.ReleaseEvent(ctx, "ns", "id", ""),
		"zero renewal": func() error {
			_, err := e.a.RenewEvent(ctx, "ns", "id", "tok", 0)
			return err
		}(),
		"empty nonce": func() error {
			_, err := e.a.RecordNonce(ctx, "ns", "", long)
			return err
		}(),
		"negative ttl": func() error { _, err := e.a.RecordPayment(ctx, "ns", "o", "t", -time.Second); return err }(),
	}
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if errors.Is(err, ErrUnavailable) || !errors.Is(err, errInvalid) {
			t.Errorf("%s: %v; want errInvalid, not ErrUnavailable", name, err)
		}
	}
	// The rejected claim did not happen.
	claim(t, e.a, "ns", "id", Claimed)
}

// A request whose context is gone (the provider hung up, the pipeline's
// deadline passed) fails as unavailable and changes nothing.
func testCanceled(t *testing.T, e env) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := e.a.ClaimEvent(cctx, "alipay", "evt1", long)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("ClaimEvent with a canceled context: %v; want ErrUnavailable wrapping context.Canceled", err)
	}
	if _, err := e.a.RecordNonce(cctx, "alipay", "n", long); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RecordNonce with a canceled context: %v", err)
	}
	claim(t, e.a, "alipay", "evt1", Claimed)
	nonce(t, e.a, "alipay", "n", long, true)
}

// fakeClock is the memory store's injectable time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) env {
		clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		m := newMemory("payguard:", clock.now, time.Hour)
		t.Cleanup(func() { _ = m.Close() })
		return env{a: m, b: m, advance: clock.advance}
	})
}
