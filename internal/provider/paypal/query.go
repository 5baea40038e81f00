package paypal

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// ordersPath is the Checkout order API below the query base.
const ordersPath = "/v2/checkout/orders/"

// Querier confirms a notification with PayPal's own API: the capture by
// id for PAYMENT.CAPTURE.* events (for a refund, the refunded capture),
// the order by id for CHECKOUT.ORDER.* events, with the same OAuth token
// the verify API uses. PayPal's answers are unsigned; TLS to the
// configured host is what they rest on.
type Querier struct {
	api  *apiClient
	base string // the query { endpoint }, else api_base
}

var _ provider.Querier = (*Querier)(nil)

// captureStatus maps a capture's status to the contract's words. A
// partially refunded capture still holds the rest of the payment: paid.
var captureStatus = map[string]notification.Status{
	"COMPLETED":          notification.StatusPaid,
	"PARTIALLY_REFUNDED": notification.StatusPaid,
	"PENDING":            notification.StatusPending,
	"DECLINED":           notification.StatusFailed,
	"FAILED":             notification.StatusFailed,
	"REFUNDED":           notification.StatusRefunded,
}

// orderStatus maps a Checkout order's status.
var orderStatus = map[string]notification.Status{
	"CREATED":               notification.StatusPending,
	"SAVED":                 notification.StatusPending,
	"APPROVED":              notification.StatusPending,
	"PAYER_ACTION_REQUIRED": notification.StatusPending,
	"COMPLETED":             notification.StatusPaid,
	"VOIDED":                notification.StatusClosed,
}

// QueryOrder implements provider.Querier.
func (q *Querier) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if n == nil {
		return nil, reason.New(reason.QueryUnavailable, "paypal: no notification to query")
	}
	eventType, _ := n.Fields()["event_type"].(string)
	switch {
	case strings.HasPrefix(eventType, "CHECKOUT.ORDER."):
		return q.get(ctx, n, ordersPath, "order", orderStatus)
	case strings.HasPrefix(eventType, "PAYMENT.CAPTURE."):
		return q.get(ctx, n, capturesPath, "capture", captureStatus)
	}
	// Billing plans, disputes and the other events name no capture or
	// order: the pipeline passes them with Payguard-Query: skipped.
	return nil, provider.ErrNotQueryable
}

// get fetches the capture or order n names and maps it.
func (q *Querier) get(ctx context.Context, n *notification.Notification, path, what string, statuses map[string]notification.Status) (*provider.QueryResult, error) {
	if !isToken(n.TransactionID) {
		return nil, provider.ErrNotQueryable // a refund without the "up" link to its capture
	}
	endpoint := q.base + path + url.PathEscape(n.TransactionID)
	status, body, err := q.api.call(ctx, what+" query", func() (*http.Request, error) {
		return http.NewRequest(http.MethodGet, endpoint, nil)
	})
	if err != nil {
		return nil, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, reason.New(reason.QueryMismatch, "paypal: PayPal knows no %s with this id", what)
	default:
		return nil, reason.New(reason.QueryUnavailable, "paypal: %s query answered HTTP %d", what, status)
	}
	return parseQueryAnswer(body, n, what, statuses)
}

// parseQueryAnswer maps a capture or order answer. An answer payguard
// cannot read is query_unavailable: PayPal may answer better on a retry.
func parseQueryAnswer(body []byte, n *notification.Notification, what string, statuses map[string]notification.Status) (*provider.QueryResult, error) {
	var r resource
	if err := decodeObject(body, &r); err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: "+what+" answer")
	}
	var raw map[string]any
	_ = decodeObject(body, &raw) // decoded once already: cannot fail here
	res := &provider.QueryResult{TransactionID: r.ID, Raw: raw}
	res.Status = statuses[r.Status]
	if res.Status == "" {
		res.Status = notification.StatusOther
	}
	amount, outTradeNo := r.Amount, firstNonEmpty(r.CustomID, r.InvoiceID)
	if what == "order" {
		amount, outTradeNo = nil, r.ID
		if len(r.PurchaseUnits) > 0 {
			pu := r.PurchaseUnits[0]
			amount = pu.Amount
			outTradeNo = firstNonEmpty(pu.CustomID, pu.InvoiceID, r.ID)
		}
	} else if outTradeNo == "" && r.SupplementaryData != nil {
		outTradeNo = r.SupplementaryData.RelatedIDs.OrderID
	}
	// A refund notification without the shop's ids has no order number to
	// compare; the capture id already ties the two together.
	if n.OutTradeNo != "" {
		res.OutTradeNo = outTradeNo
	}
	if amount == nil {
		return nil, reason.New(reason.QueryUnavailable, "paypal: %s answer has no amount", what)
	}
	v, err := ParseAmount(amount.Value, amount.CurrencyCode)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: "+what+" answer amount")
	}
	res.Amount, res.Currency = v, amount.CurrencyCode
	return res, nil
}
