package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/store"
)

type ctxKey struct{}

// lazyAndReal are a lazyDeadline and the standard library's context it
// stands for, on the same parent and deadline.
func lazyAndReal(parent context.Context, deadline time.Time, detached bool) (*lazyDeadline, context.Context, context.CancelFunc) {
	c := &lazyDeadline{}
	c.start(parent, deadline, detached)
	p := parent
	if detached {
		p = context.WithoutCancel(parent)
	}
	real, cancel := context.WithDeadline(p, deadline)
	return c, real, cancel
}

// TestLazyDeadlineAnswersAsWithDeadline: before and after its deadline,
// with its parent cancelled or not, detached or not, asked first for its
// error or for its Done channel, a lazyDeadline gives the answers of
// context.WithDeadline (on context.WithoutCancel when detached).
func TestLazyDeadlineAnswersAsWithDeadline(t *testing.T) {
	for _, tc := range []struct {
		name            string
		past, cancelled bool
		detached        bool
	}{
		{name: "live"},
		{name: "past its deadline", past: true},
		{name: "parent cancelled", cancelled: true},
		{name: "parent cancelled, detached", cancelled: true, detached: true},
		{name: "past its deadline, detached", past: true, detached: true},
	} {
		for _, doneFirst := range []bool{false, true} {
			parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
			deadline := time.Now().Add(time.Hour)
			if tc.past {
				deadline = time.Now().Add(-time.Second)
			}
			if tc.cancelled {
				cancelParent()
			}
			c, real, cancel := lazyAndReal(parent, deadline, tc.detached)
			if doneFirst {
				c.Done()
			}
			if got, want := c.Err(), real.Err(); got != want {
				t.Errorf("%s (Done first %v): Err %v, WithDeadline's %v", tc.name, doneFirst, got, want)
			}
			if got, want := isClosed(c.Done()), isClosed(real.Done()); got != want {
				t.Errorf("%s: Done closed %v, WithDeadline's %v", tc.name, got, want)
			}
			gd, gok := c.Deadline()
			wd, wok := real.Deadline()
			if !gd.Equal(wd) || gok != wok {
				t.Errorf("%s: Deadline %v %v, WithDeadline's %v %v", tc.name, gd, gok, wd, wok)
			}
			if c.Value(ctxKey{}) != "v" {
				t.Errorf("%s: the parent's value is lost", tc.name)
			}
			if got, want := context.Cause(c), context.Cause(real); got != want {
				t.Errorf("%s: Cause %v, WithDeadline's %v", tc.name, got, want)
			}
			c.end()
			cancel()
			if got, want := c.Err(), real.Err(); got != want {
				t.Errorf("%s: Err after end %v, WithDeadline's after cancel %v", tc.name, got, want)
			}
			cancelParent()
		}
	}
}

// TestLazyDeadlineEndsBeforeBuilt: a lazyDeadline ended unbuilt is done
// like a cancelled WithDeadline, whatever is asked of it afterwards.
func TestLazyDeadlineEndsBeforeBuilt(t *testing.T) {
	c := &lazyDeadline{}
	c.start(context.Background(), time.Now().Add(time.Hour), false)
	if c.Err() != nil {
		t.Fatalf("live: %v", c.Err())
	}
	c.end()
	if c.Err() != context.Canceled {
		t.Fatalf("after end: %v, want context.Canceled", c.Err())
	}
	if !isClosed(c.Done()) || c.Err() != context.Canceled || context.Cause(c) != context.Canceled {
		t.Fatalf("Done asked after end: closed %v, Err %v, Cause %v", isClosed(c.Done()), c.Err(), context.Cause(c))
	}
	child, cancel := context.WithCancel(c)
	defer cancel()
	if !isClosed(child.Done()) {
		t.Fatal("a child of an ended lazyDeadline is not done")
	}
}

// TestLazyDeadlineFollowsItsParentOnceBuilt: once someone waits on it, a
// lazyDeadline is done when its deadline passes or its parent is
// cancelled, and so is a child context made from it.
func TestLazyDeadlineFollowsItsParentOnceBuilt(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	c := &lazyDeadline{}
	c.start(parent, time.Now().Add(time.Hour), false)
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	cancelParent()
	<-child.Done()
	if c.Err() != context.Canceled || child.Err() != context.Canceled {
		t.Fatalf("parent cancelled: %v, child %v", c.Err(), child.Err())
	}
	c.end()

	c = &lazyDeadline{}
	c.start(context.Background(), time.Now().Add(20*time.Millisecond), true)
	<-c.Done()
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("deadline passed: %v", c.Err())
	}
	c.end()
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("deadline passed, then ended: %v", c.Err())
	}
}

// TestRetryFirstAttemptBuildsNoContext pins what lazyDeadline saves: a
// Retry whose first attempt succeeds against a store that only checks its
// context's Err (the memory store) allocates the lazyDeadline alone, where
// context.WithDeadline cost four allocations (the acknowledge stage's own
// lazyDeadline lives in its delivery: none).
func TestRetryFirstAttemptBuildsNoContext(t *testing.T) {
	st := store.NewMemory("")
	defer st.Close()
	op := func(ctx context.Context) error {
		_, err := st.RenewEvent(ctx, "ns", "evt", "tok", time.Second)
		return err
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := Retry(context.Background(), time.Second, op); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("Retry of a memory store call: %v allocations, want at most 2 (the lazyDeadline and the renewal's key)", allocs)
	}
	var first lazyDeadline
	allocs = testing.AllocsPerRun(100, func() {
		if err := retry(context.Background(), true, &first, time.Second, op); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("detached retry with the caller's lazyDeadline: %v allocations, want at most 1 (the renewal's key)", allocs)
	}
}

// TestRetryGivesLaterAttemptsTheRestOfWithin: the store away, each
// attempt's deadline is the one within set, and a detached retry outlives
// its cancelled parent.
func TestRetryGivesLaterAttemptsTheRestOfWithin(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	var deadlines []time.Time
	attempts := 0
	err := retry(parent, true, &lazyDeadline{}, time.Minute, func(ctx context.Context) error {
		attempts++
		if ctx.Err() != nil {
			t.Fatalf("attempt %d: %v on a detached retry", attempts, ctx.Err())
		}
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, d)
		if attempts < 3 {
			return store.ErrUnavailable
		}
		return errors.New("other")
	})
	if err == nil || err.Error() != "other" || attempts != 3 {
		t.Fatalf("err %v after %d attempts, want other after 3", err, attempts)
	}
	for _, d := range deadlines[1:] {
		if !d.Equal(deadlines[0]) {
			t.Fatalf("attempt deadlines %v, want one", deadlines)
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
