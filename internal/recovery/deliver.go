package recovery

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/stdwebhook"
	"github.com/payguard/payguard/internal/store"
)

// The headers of a recovered delivery beside pipeline's (DESIGN.md section 4).
const (
	HeaderSource = "Payguard-Source"
	// SourceRecovered is HeaderSource's value on a recovered payment.
	SourceRecovered = "recovered"
)

// recover handles a watched order the provider reports paid: checked
// against what the shop registered, claimed once across the fleet as
// recovered:<transaction_id>, then delivered or reported.
func (w *Worker) recover(ctx context.Context, wt store.Watch, res *provider.QueryResult) {
	registered := notification.Notification{
		Status: notification.StatusPaid, OutTradeNo: wt.OutTradeNo,
		Amount: res.Amount, Currency: res.Currency,
	}
	if wt.HasAmount {
		registered.Amount = wt.Amount
	}
	if wt.Currency != "" {
		registered.Currency = wt.Currency
	}
	if err := pipeline.CompareQuery(&registered, res); err != nil {
		w.unconfirmed(ctx, wt, res, reason.QueryMismatch, err.Error())
		return
	}
	txn := res.TransactionID
	if txn == "" {
		w.failed(ctx, wt, res, "the provider's answer names no transaction")
		return
	}
	// One record per transaction, shared with the provider's own
	// notification (the pipeline's Guard): exactly one of them delivers.
	eventID := EventPrefix + txn
	claim, err := w.cfg.Store.ClaimDelivery(ctx, w.cfg.Namespace, txn, store.SourceRecovered, eventID, w.cfg.ClaimLease+w.deliverTimeout())
	switch {
	case err != nil:
		w.failed(ctx, wt, res, err.Error())
		return
	case claim.State == store.TxnDelivered:
		// The provider's own notification got there first (or this
		// payment was recovered or reported already).
		w.end(ctx, wt)
		return
	case claim.State == store.TxnInFlight:
		w.next(ctx, wt, res)
		return
	}
	n := &notification.Notification{
		EventID: eventID, Provider: w.cfg.Provider, Type: notification.TypeFor(notification.StatusPaid),
		OutTradeNo: wt.OutTradeNo, TransactionID: txn, Amount: res.Amount, Currency: res.Currency,
		Status: notification.StatusPaid, Merchant: res.Merchant, Raw: res.Raw,
	}
	earlier, err := w.cfg.Store.RecordPayment(ctx, w.cfg.Namespace, n.OutTradeNo, txn, w.cfg.DedupTTL)
	if err != nil {
		_ = w.cfg.Store.ReleaseDelivery(ctx, w.cfg.Namespace, txn, claim.Token)
		w.failed(ctx, wt, res, err.Error())
		return
	}
	if w.cfg.DeliverTo == "" {
		// Report-only: said once; the provider's own notification, should
		// it still come, is forwarded (a reported record is taken over).
		w.finish(ctx, wt, n, res, earlier, claim.Token, false)
		return
	}
	if err := w.deliver(ctx, n, res, earlier); err != nil {
		_ = w.cfg.Store.ReleaseDelivery(ctx, w.cfg.Namespace, txn, claim.Token)
		w.failed(ctx, wt, res, "delivery: "+err.Error())
		return
	}
	w.finish(ctx, wt, n, res, earlier, claim.Token, true)
}

// finish records the delivery (or the report) and ends the watch in one
// store step, then writes the audit record. The shop has the payment, so
// the record is retried while the store is away (the lease on the record
// outlasts that only so far: see completeRetrying).
func (w *Worker) finish(ctx context.Context, wt store.Watch, n *notification.Notification, res *provider.QueryResult, earlier, token string, delivered bool) {
	source := store.SourceReported
	if delivered {
		source = store.SourceRecovered
	}
	c := store.Completion{OrderNS: w.cfg.Namespace, TransactionID: n.TransactionID, TxnToken: token, Source: source,
		EventID: n.EventID, Provider: w.cfg.Provider, OutTradeNo: wt.OutTradeNo, TTL: w.cfg.DedupTTL}
	if err := w.completeRetrying(ctx, c); err != nil {
		w.cfg.Logger.Error("recovery: delivered, but the store did not take the record; a late notification of it may be forwarded too",
			zap.String("event_id", n.EventID), zap.String("transaction_id", n.TransactionID), zap.Error(err))
	}
	result, code := Reported, reason.Code("")
	if delivered {
		result, code = Delivered, reason.Forwarded
	}
	w.cfg.Count(result)
	rec := w.record(wt, res, audit.Recovered, code)
	rec.EventID, rec.Amount, rec.Currency, rec.DuplicateOf = n.EventID, n.Amount, n.Currency, earlier
	rec.Delivered = &delivered
	w.cfg.Audit(ctx, rec)
	w.cfg.Logger.Info("recovery: payment recovered", zap.String("provider", w.cfg.Provider),
		zap.String("event_id", n.EventID), zap.String("out_trade_no", n.OutTradeNo),
		zap.String("transaction_id", n.TransactionID), zap.Int64("amount", n.Amount),
		zap.String("currency", n.Currency), zap.Bool("delivered", delivered))
}

// completeRetrying writes c, retrying with backoff while the store is
// unavailable, for up to the record's lease (after it the record may be
// taken over, and writing it no longer helps) or until ctx ends.
func (w *Worker) completeRetrying(ctx context.Context, c store.Completion) error {
	return pipeline.Retry(ctx, w.cfg.ClaimLease, func(ctx context.Context) error {
		return w.cfg.Store.CompleteDelivery(ctx, c)
	})
}

// failed counts a failure and retries at the next offset.
func (w *Worker) failed(ctx context.Context, wt store.Watch, res *provider.QueryResult, why string) {
	w.cfg.Count(Failed)
	w.cfg.Logger.Warn("recovery: retried at the next offset", zap.String("provider", w.cfg.Provider),
		zap.String("out_trade_no", wt.OutTradeNo), zap.String("detail", why))
	w.next(ctx, wt, res)
}

// deliveryError is a shop answer other than 2xx.
type deliveryError int

func (e deliveryError) Error() string { return "deliver_to answered HTTP " + strconv.Itoa(int(e)) }

// deliver POSTs the recovered payment as `forward normalized` JSON with
// every Payguard-* header, Payguard-Source: recovered and
// Payguard-Query: confirmed, signed when upstream secrets are set. Only a
// 2xx is accepted.
func (w *Worker) deliver(ctx context.Context, n *notification.Notification, res *provider.QueryResult, earlier string) error {
	body, err := pipeline.NormalizedJSON(n, res, earlier)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.DeliverTo, bytes.NewReader(body))
	if err != nil {
		return err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "payguard")
	h.Set(pipeline.HeaderProvider, n.Provider)
	h.Set(pipeline.HeaderEventID, n.EventID)
	h.Set(pipeline.HeaderOutTradeNo, n.OutTradeNo)
	h.Set(pipeline.HeaderTransactionID, n.TransactionID)
	h.Set(pipeline.HeaderAmount, strconv.FormatInt(n.Amount, 10))
	if n.Currency != "" {
		h.Set(pipeline.HeaderCurrency, n.Currency)
	}
	h.Set(pipeline.HeaderStatus, string(n.Status))
	h.Set(pipeline.HeaderQuery, "confirmed")
	h.Set(HeaderSource, SourceRecovered)
	if earlier != "" {
		h.Set(pipeline.HeaderDuplicatePayment, earlier)
	}
	if len(w.cfg.UpstreamSecrets) > 0 {
		ts := w.cfg.Now().Unix()
		h.Set("Webhook-Id", n.EventID)
		h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
		h.Set("Webhook-Signature", stdwebhook.Sign(w.cfg.UpstreamSecrets, n.EventID, ts, body))
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return deliveryError(resp.StatusCode)
	}
	return nil
}
