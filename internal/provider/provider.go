// Package provider defines what a payment provider package gives the
// pipeline: verification of an incoming notification, the provider's own
// acknowledgement format, and (optionally) a reverse order query.
//
// Each provider lives in its own package below this one and owns its
// parsing, verification, acknowledgement, query client and the signer its
// simulator uses. Nothing here knows Caddy.
package provider

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

// Request is an incoming notification as the pipeline read it. Body is the
// raw body, read once; every signature is checked over these bytes.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	Now      time.Time
	// ForwardOriginal is set when these raw bytes reach the shop as they
	// are (forward original): a provider whose signature covers parsed
	// values, not bytes, must then refuse a body that a naive parser would
	// read differently from its own.
	ForwardOriginal bool
}

// Verified is an authenticated notification and the freshness facts its
// signature covers.
type Verified struct {
	Notification notification.Notification
	// Timestamp is the signed send time, zero when the provider signs none
	// usable for a replay window.
	Timestamp time.Time
	// Nonce is a signed value unique per delivery, empty when the provider
	// signs none.
	Nonce string
	// EventTime is the signed time of the event itself (Alipay notify_time,
	// WeChat v2 time_end, UnionPay txnTime, Apple signedDate), for
	// providers that sign no send time: the pipeline holds it to max_age.
	// Zero when the provider signs none or Timestamp is set.
	EventTime time.Time
}

// Traits says how the pipeline treats this provider's requests.
type Traits struct {
	// Method is the one HTTP method notifications arrive with.
	Method string
	// Passthrough marks a route that is verified and forwarded but never
	// claimed, queried or acknowledged: the shop's own answer goes back
	// unchanged (Alipay's browser return, mode return).
	Passthrough bool
	// DefaultDedupTTL is the route's dedup_ttl (and so its max_age) when the
	// handler sets none; zero means the pipeline's default (72h). App Store
	// retries span about 6.5 days, so appstore asks for 168h.
	DefaultDedupTTL time.Duration
}

// Ack is what the provider receives.
type Ack struct {
	Status      int
	ContentType string // empty: no Content-Type
	Body        []byte
}

// RefusalStatus is the status of a refusal's acknowledgement: status when
// it is an error status (4xx or 5xx) and not among avoid, else the
// reason's contract status, else 500. A refusal must never read as
// success; avoid holds the statuses that mean more to the provider (410
// tells a Standard Webhooks sender to disable the endpoint).
func RefusalStatus(code reason.Code, status int, avoid ...int) int {
	usable := func(s int) bool { return s >= 400 && s <= 599 && !slices.Contains(avoid, s) }
	if usable(status) {
		return status
	}
	if status = reason.HTTPStatus(code); usable(status) {
		return status
	}
	return http.StatusInternalServerError
}

// Provider verifies notifications and speaks the provider's acknowledgement.
type Provider interface {
	// Name is the provider name as configured ("alipay").
	Name() string
	Traits() Traits
	// VerifyNotify parses and authenticates a notification. Every error is
	// a *reason.Error (malformed, bad_signature, unknown_key, ...); it
	// never panics, whatever the input.
	VerifyNotify(req *Request) (*Verified, error)
	// Acknowledge renders the answer to the provider. ok is true for an
	// accepted notification (forwarded or duplicate); otherwise code and
	// status say why it was refused.
	Acknowledge(ok bool, code reason.Code, status int) Ack
}

// QueryResult is what the provider's own query API says about an order.
type QueryResult struct {
	Status        notification.Status `json:"status"`
	Amount        int64               `json:"amount"`
	Currency      string              `json:"currency"`
	OutTradeNo    string              `json:"out_trade_no,omitempty"`
	TransactionID string              `json:"transaction_id,omitempty"`
	Merchant      string              `json:"-"`
	Raw           map[string]any      `json:"-"`
}

// OrderQuerier is the second form of the query (DESIGN.md section 11): look
// an order up by the merchant's order number, for providers whose API
// answers by it. Lost-callback recovery is built on it. A QueryResult with
// status pending means "not paid yet"; an unknown order is
// reason.QueryMismatch.
type OrderQuerier interface {
	QueryByOrderNo(ctx context.Context, outTradeNo string) (*QueryResult, error)
}

// AnswerJudge is implemented by providers whose legacy handlers answer in
// the provider's own format even on failure (Alipay's 200 "fail", WeChat
// v2's 200 return_code FAIL): with `forward original`, the shop accepted
// the notification only when Accepted says so. Providers without it: a 2xx
// is accepted.
type AnswerJudge interface {
	Accepted(status int, header http.Header, body []byte) bool
}

// ErrNotQueryable is what QueryOrder returns for a notification its query
// cannot speak to (DESIGN.md section 2 step 6: a subscription's expiry, a
// renewal-preference change, a test notification): the pipeline passes
// such a notification with Payguard-Query: skipped instead of refusing it.
var ErrNotQueryable = errors.New("the provider's query cannot speak to this notification")

// Querier is implemented by providers with a reverse order query. Errors
// are *reason.Error: query_unavailable for anything the provider may fix by
// retrying (down, slow, malformed or unverifiable answer), query_mismatch
// when the provider authoritatively denies the order.
type Querier interface {
	QueryOrder(ctx context.Context, n *notification.Notification) (*QueryResult, error)
}
