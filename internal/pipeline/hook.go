package pipeline

import (
	"context"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// Hook is lost-callback recovery's part in the pipeline (DESIGN.md section
// 11), internal/recovery's Guard; nil on routes without recovery.
type Hook interface {
	// Guards reports whether BeforeForward may act on a paid notification
	// of order namespace ns (a recover route exists for it). Where it does
	// not, BeforeForward refuses nothing, so the payment is recorded with
	// the claim, in the same store step (Pipeline.recordsAtClaim).
	Guards(ns string) bool
	// BeforeForward runs when a notification passed every check and its
	// event is claimed, just before the forward; ns is its order
	// namespace. An error (a reason.Error: store_unavailable, in_flight)
	// refuses it, retryable.
	BeforeForward(ctx context.Context, ns string, n *notification.Notification) (Guard, error)
	// After runs once the pipeline is done with a verified notification,
	// whatever the outcome: it starts and ends watches. Its store errors
	// are its own to log; the provider's answer does not change.
	After(ctx context.Context, ns string, res *Result)
}

// Guard is BeforeForward's answer.
type Guard struct {
	// Duplicate: the payment reached the shop already (as a recovered
	// payment): acknowledged as duplicate, not forwarded.
	Duplicate bool
	// Hold is the transaction's delivery record the hook claimed: the
	// pipeline completes it with the event's claim, in one store step, or
	// releases it.
	Hold *Hold
}

// Hold is a claimed delivery record (store.ClaimDelivery) and the watch
// its completion ends.
type Hold struct {
	TransactionID, Token string
	Provider, OutTradeNo string
}

// Namespace is the order namespace (DESIGN.md section 3): the configured
// order_namespace, else the provider and the merchant (two apps behind one
// payguard never share an order's memory). The pipeline gives it the
// notification's merchant, recovery the merchant its route configures
// (provider.Spec.MerchantOption): one function, so both agree.
func Namespace(orderNamespace, providerName, merchant string) string {
	if orderNamespace != "" {
		return orderNamespace
	}
	if merchant == "" {
		return providerName
	}
	return providerName + ":" + merchant
}

// guard runs the hook before the forward.
func (d *delivery) guard() error {
	h := d.p.cfg.Hook
	if h == nil {
		return nil
	}
	g, err := h.BeforeForward(d.sctx, d.p.orderNamespace(d.n), d.n)
	if err != nil {
		return asReasonError(err, reason.StoreUnavailable)
	}
	d.hold = g.Hold
	if g.Duplicate {
		// Delivered already: this event is done too, so its retries stop
		// at the claim.
		d.completed = true
		cctx, cancel := context.WithTimeout(context.WithoutCancel(d.sctx), storeCleanupTimeout)
		defer cancel()
		_ = d.p.cfg.Store.CompleteEvent(cctx, d.p.name, d.n.EventID, d.claim.Token, d.p.cfg.DedupTTL)
		d.res.Code, d.res.Outcome = reason.Duplicate, OutcomeDuplicate
		d.res.Response = d.p.ack(true, reason.Duplicate, &d.ackVals)
		return errStop
	}
	return nil
}

// complete writes the completion: the event's claim done, or with a hold
// all of the completion in one store step.
func (d *delivery) complete(ctx context.Context) error {
	if d.hold == nil {
		return d.p.cfg.Store.CompleteEvent(ctx, d.p.name, d.n.EventID, d.claim.Token, d.p.cfg.DedupTTL)
	}
	return d.p.cfg.Store.CompleteDelivery(ctx, d.completion())
}

// completion is what the acknowledge stage writes: the event done and,
// with a hold, its transaction delivered and its watch ended.
func (d *delivery) completion() store.Completion {
	c := store.Completion{EventNS: d.p.name, EventID: d.n.EventID, EventToken: d.claim.Token, TTL: d.p.cfg.DedupTTL}
	if h := d.hold; h != nil {
		c.OrderNS, c.TransactionID, c.TxnToken, c.Source = d.p.orderNamespace(d.n), h.TransactionID, h.Token, store.SourceNotify
		c.Provider, c.OutTradeNo = h.Provider, h.OutTradeNo
	}
	return c
}

// releaseHold frees the hook's hold of a delivery that was not completed.
func (d *delivery) releaseHold(ctx context.Context) {
	if h := d.hold; h != nil {
		_ = d.p.cfg.Store.ReleaseDelivery(ctx, d.p.orderNamespace(d.n), h.TransactionID, h.Token)
	}
}

// after runs the hook's After on a verified notification.
func (p *Pipeline) after(ctx context.Context, res *Result) {
	if p.cfg.Hook != nil && res.Notification != nil {
		p.cfg.Hook.After(ctx, p.orderNamespace(res.Notification), res)
	}
}
