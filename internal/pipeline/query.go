package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// queryCache collapses concurrent queries for one order into one call
// (the provider retries, and fleets, send copies at once) and remembers a
// successful answer for a short while.
type queryCache struct {
	q     provider.Querier
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	entries map[string]cachedQuery
}

type cachedQuery struct {
	res     *provider.QueryResult
	expires time.Time
}

// maxCachedQueries bounds the cache: an attacker cannot reach it without a
// valid signature, but a burst of genuine orders should not grow it forever.
const maxCachedQueries = 10000

func newQueryCache(q provider.Querier, ttl time.Duration, now func() time.Time) *queryCache {
	return &queryCache{q: q, ttl: ttl, now: now, entries: map[string]cachedQuery{}}
}

// confirm asks the provider about n's order and checks the answer agrees.
// A cached answer that disagrees is asked again once, fresh: the order may
// have moved on (pending, then paid) since it was cached. A notification
// the provider's query cannot speak to comes back as (nil, nil): skipped.
func (c *queryCache) confirm(ctx context.Context, ns string, n *notification.Notification) (*provider.QueryResult, error) {
	key := ns + "\x00" + n.OutTradeNo
	if res, ok := c.cached(key); ok {
		if err := CompareQuery(n, res); err == nil {
			return res, nil
		}
		c.forget(key)
	}
	res, err := c.fetch(ctx, key, n)
	if errors.Is(err, provider.ErrNotQueryable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return res, CompareQuery(n, res)
}

func (c *queryCache) fetch(ctx context.Context, key string, n *notification.Notification) (*provider.QueryResult, error) {
	// Concurrent queries collapse only among notifications of one kind:
	// whether the provider can confirm depends on the kind, and a paid
	// notification must never share a refund failure's "cannot confirm".
	flight := key + "\x00" + string(n.Status) + "\x00" + n.Type
	ch := c.group.DoChan(flight, func() (any, error) {
		// The shared call must not die with the first caller's request.
		qctx := context.WithoutCancel(ctx)
		res, err := c.q.QueryOrder(qctx, n)
		if err != nil {
			return nil, err
		}
		if res == nil {
			return nil, reason.New(reason.QueryUnavailable, "provider query returned nothing")
		}
		c.store(key, res)
		return res, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, asReasonError(r.Err, reason.QueryUnavailable)
		}
		return r.Val.(*provider.QueryResult), nil
	case <-ctx.Done():
		return nil, reason.Wrap(reason.QueryUnavailable, ctx.Err(), "query")
	}
}

func (c *queryCache) cached(key string) (*provider.QueryResult, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.res, true
}

func (c *queryCache) store(key string, res *provider.QueryResult) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= maxCachedQueries {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedQueries {
			return
		}
	}
	c.entries[key] = cachedQuery{res: res, expires: now.Add(c.ttl)}
}

func (c *queryCache) forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// CompareQuery checks that the provider's answer agrees with the
// notification on status, amount, currency, order number, transaction and
// merchant. Fields the provider's answer leaves empty are not compared,
// except status and amount, which always are.
//
// The query confirms what the notification claims (DESIGN.md section 2
// step 6): a payment by a trade that was paid for that amount (and may
// have been refunded since: the money moved before the shop heard of it),
// a refund by a trade that shows it, any other status by the same status.
func CompareQuery(n *notification.Notification, q *provider.QueryResult) error {
	mismatch := func(field string, got, want any) error {
		return reason.New(reason.QueryMismatch, "%s: notification says %v, provider says %v", field, want, got)
	}
	switch n.Status {
	case notification.StatusPaid:
		if q.Status != notification.StatusPaid && q.Status != notification.StatusRefunded {
			return mismatch("status", q.Status, n.Status)
		}
		if q.Amount != n.Amount {
			return mismatch("amount", q.Amount, n.Amount)
		}
	case notification.StatusRefunded:
		// A refund notice names the payment's amount (and the refunded
		// one), while the query reports the trade: still paid after a
		// partial refund, closed (Alipay) or refunded after a full one.
		// Neither can exceed what the trade took.
		switch q.Status {
		case notification.StatusRefunded, notification.StatusClosed, notification.StatusPaid:
		default:
			return mismatch("status", q.Status, n.Status)
		}
		if n.Amount > q.Amount {
			return mismatch("amount", q.Amount, n.Amount)
		}
		if n.RefundAmount > q.Amount {
			return mismatch("refund_amount", q.Amount, n.RefundAmount)
		}
	default:
		if q.Status != n.Status {
			return mismatch("status", q.Status, n.Status)
		}
		if q.Amount != n.Amount {
			return mismatch("amount", q.Amount, n.Amount)
		}
	}
	switch {
	case q.Currency != "" && q.Currency != n.Currency:
		return mismatch("currency", q.Currency, n.Currency)
	case q.OutTradeNo != "" && q.OutTradeNo != n.OutTradeNo:
		return mismatch("out_trade_no", q.OutTradeNo, n.OutTradeNo)
	case q.TransactionID != "" && n.TransactionID != "" && q.TransactionID != n.TransactionID:
		return mismatch("transaction_id", q.TransactionID, n.TransactionID)
	case q.Merchant != "" && n.Merchant != "" && q.Merchant != n.Merchant:
		return mismatch("merchant", q.Merchant, n.Merchant)
	}
	return nil
}
