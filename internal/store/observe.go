package store

import (
	"context"
	"errors"
	"time"
)

// Observe returns s with every operation that fails with ErrUnavailable
// reported to unavailable, by its method name (the metrics hook of
// payguard_store_errors_total). A call the caller itself gave up on (its
// context canceled: the sender hung up) is not the store's failure and is
// not reported; a deadline that ran out is. Errors and results pass
// through unchanged.
//
// observed spells out every Store method rather than embedding Store, so
// a method added to the interface fails to compile here until it is
// wrapped; TestObserveWrapsEveryMethod checks by reflection that each one
// reports its failures.
func Observe(s Store, unavailable func(op string)) Store {
	return &observed{s: s, fail: unavailable}
}

type observed struct {
	s    Store
	fail func(op string)
}

var _ Store = (*observed)(nil)

// Unwrap returns the observed store.
func (o *observed) Unwrap() Store { return o.s }

// check reports err when it is the store's failure.
func (o *observed) check(ctx context.Context, op string, err error) {
	if err != nil && errors.Is(err, ErrUnavailable) && !errors.Is(ctx.Err(), context.Canceled) {
		o.fail(op)
	}
}

func (o *observed) ClaimEvent(ctx context.Context, ns, eventID string, lease time.Duration) (Claim, error) {
	c, err := o.s.ClaimEvent(ctx, ns, eventID, lease)
	o.check(ctx, "ClaimEvent", err)
	return c, err
}

func (o *observed) CompleteEvent(ctx context.Context, ns, eventID, token string, ttl time.Duration) error {
	err := o.s.CompleteEvent(ctx, ns, eventID, token, ttl)
	o.check(ctx, "CompleteEvent", err)
	return err
}

func (o *observed) ReleaseEvent(ctx context.Context, ns, eventID, token string) error {
	err := o.s.ReleaseEvent(ctx, ns, eventID, token)
	o.check(ctx, "ReleaseEvent", err)
	return err
}

func (o *observed) RenewEvent(ctx context.Context, ns, eventID, token string, lease time.Duration) (bool, error) {
	held, err := o.s.RenewEvent(ctx, ns, eventID, token, lease)
	o.check(ctx, "RenewEvent", err)
	return held, err
}

func (o *observed) RecordNonce(ctx context.Context, ns, nonce string, ttl time.Duration) (bool, error) {
	fresh, err := o.s.RecordNonce(ctx, ns, nonce, ttl)
	o.check(ctx, "RecordNonce", err)
	return fresh, err
}

func (o *observed) RecordPayment(ctx context.Context, ns, outTradeNo, transactionID string, ttl time.Duration) (string, error) {
	earlier, err := o.s.RecordPayment(ctx, ns, outTradeNo, transactionID, ttl)
	o.check(ctx, "RecordPayment", err)
	return earlier, err
}

func (o *observed) WatchOrder(ctx context.Context, ns string, w Watch, ttl time.Duration) (bool, error) {
	started, err := o.s.WatchOrder(ctx, ns, w, ttl)
	o.check(ctx, "WatchOrder", err)
	return started, err
}

func (o *observed) TakeDueWatches(ctx context.Context, ns, provider string, now time.Time, lease time.Duration, max int) ([]Watch, error) {
	ws, err := o.s.TakeDueWatches(ctx, ns, provider, now, lease, max)
	o.check(ctx, "TakeDueWatches", err)
	return ws, err
}

func (o *observed) RescheduleWatch(ctx context.Context, ns string, w Watch, due time.Time) (bool, error) {
	held, err := o.s.RescheduleWatch(ctx, ns, w, due)
	o.check(ctx, "RescheduleWatch", err)
	return held, err
}

func (o *observed) EndWatch(ctx context.Context, ns, provider, outTradeNo string) error {
	err := o.s.EndWatch(ctx, ns, provider, outTradeNo)
	o.check(ctx, "EndWatch", err)
	return err
}

func (o *observed) ClaimDelivery(ctx context.Context, ns, transactionID, source, eventID string, lease time.Duration) (TxnClaim, error) {
	c, err := o.s.ClaimDelivery(ctx, ns, transactionID, source, eventID, lease)
	o.check(ctx, "ClaimDelivery", err)
	return c, err
}

func (o *observed) ReleaseDelivery(ctx context.Context, ns, transactionID, token string) error {
	err := o.s.ReleaseDelivery(ctx, ns, transactionID, token)
	o.check(ctx, "ReleaseDelivery", err)
	return err
}

func (o *observed) CompleteDelivery(ctx context.Context, c Completion) error {
	err := o.s.CompleteDelivery(ctx, c)
	o.check(ctx, "CompleteDelivery", err)
	return err
}

func (o *observed) Delivered(ctx context.Context, ns, transactionID string) (string, error) {
	src, err := o.s.Delivered(ctx, ns, transactionID)
	o.check(ctx, "Delivered", err)
	return src, err
}

// Close closes the observed store; it is no operation to count.
func (o *observed) Close() error { return o.s.Close() }
