package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/payguard/payguard/internal/store"
)

// Retry backoff: the first retry after retryFirst, doubling up to
// retryMax.
const (
	retryFirst = 25 * time.Millisecond
	retryMax   = time.Second
)

// Retry runs op until it succeeds, fails otherwise than with an
// unavailable store (store.ErrUnavailable: retried with backoff), ctx
// ends, or within has passed; it returns op's last error. Each attempt
// gets what is left of within.
func Retry(ctx context.Context, within time.Duration, op func(context.Context) error) error {
	return retry(ctx, false, new(lazyDeadline), within, op)
}

// retry is Retry with its first attempt's context in first (a caller's
// own: the acknowledge stage's is allocated with the delivery), and, when
// detached, with ctx's values but not its cancellation
// (context.WithoutCancel, built only for a second attempt). The first
// attempt is the one that nearly always succeeds: its deadline context is
// a lazyDeadline, which a store that only checks Err never builds; later
// attempts, the store away, get the standard library's.
func retry(ctx context.Context, detached bool, first *lazyDeadline, within time.Duration, op func(context.Context) error) error {
	deadline := time.Now().Add(within)
	first.start(ctx, deadline, detached)
	err := op(first)
	first.end()
	if retryOver(err) {
		return err
	}
	if detached {
		ctx = context.WithoutCancel(ctx)
	}
	wait := retryFirst
	for {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
		actx, cancel := context.WithDeadline(ctx, deadline)
		err = op(actx)
		cancel()
		if retryOver(err) {
			return err
		}
	}
}

// retryOver reports whether an attempt's err ends the retries: a success, or
// a failure other than an unavailable store.
func retryOver(err error) bool { return err == nil || !errors.Is(err, store.ErrUnavailable) }
