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
	deadline := time.Now().Add(within)
	wait := retryFirst
	for {
		actx, cancel := context.WithDeadline(ctx, deadline)
		err := op(actx)
		cancel()
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			return err
		}
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
	}
}
