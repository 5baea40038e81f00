package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// PaidReader reads the duplicate-payment record without writing it: what
// a policy sees as notification.duplicate_of before the pipeline records
// the payment, which it does only for a notification that passed every
// check (DESIGN.md section 6).
type PaidReader interface {
	// PaidTransaction returns the transaction id remembered as the order's
	// paid one (RecordPayment), "" when there is none or it expired. An
	// empty order number has none.
	PaidTransaction(ctx context.Context, ns, outTradeNo string) (string, error)
}

// PaidTransaction implements PaidReader.
func (m *Memory) PaidTransaction(ctx context.Context, ns, outTradeNo string) (string, error) {
	if err := checkID("namespace", ns); err != nil || outTradeNo == "" {
		return "", err
	}
	return m.value(ctx, key(m.prefix, ns, kindPayment, outTradeNo))
}

// value reads one key's live value, "" when it has none.
func (m *Memory) value(ctx context.Context, k string) (string, error) {
	if err := m.lock(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	e, _ := m.get(k, m.now())
	return e.value, nil
}

// PaidTransaction implements PaidReader: one GET of the order key.
func (r *Redis) PaidTransaction(ctx context.Context, ns, outTradeNo string) (string, error) {
	if err := checkID("namespace", ns); err != nil || outTradeNo == "" {
		return "", err
	}
	txn, err := r.client.Get(ctx, key(r.prefix, ns, kindPayment, outTradeNo)).Result()
	if err == nil || errors.Is(err, redis.Nil) {
		return txn, nil
	}
	return "", unavailable("read payment", err)
}

// PaidTransaction implements PaidReader for Observe's wrapper.
func (o *observed) PaidTransaction(ctx context.Context, ns, outTradeNo string) (string, error) {
	txn, err := o.s.PaidTransaction(ctx, ns, outTradeNo)
	o.check(ctx, "PaidTransaction", err)
	return txn, err
}
