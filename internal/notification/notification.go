// Package notification holds the normalized payment notification that every
// provider produces and that payguard forwards to the shop. Money is always
// an integer count of the currency's minor unit: no floating point anywhere.
package notification

import (
	"time"
)

// Status is the contract's Payguard-Status word.
type Status string

// The status words of DESIGN.md section 4.
const (
	StatusPaid     Status = "paid"
	StatusRefunded Status = "refunded"
	StatusClosed   Status = "closed"
	StatusPending  Status = "pending"
	StatusFailed   Status = "failed"
	StatusOther    Status = "other"
)

// Valid reports whether s is one of the contract's status words.
func (s Status) Valid() bool {
	switch s {
	case StatusPaid, StatusRefunded, StatusClosed, StatusPending, StatusFailed, StatusOther:
		return true
	}
	return false
}

// Notification is one verified provider notification, normalized.
type Notification struct {
	Provider      string    `json:"provider"`
	EventID       string    `json:"id"`
	Type          string    `json:"type"`
	OutTradeNo    string    `json:"out_trade_no"`
	TransactionID string    `json:"transaction_id"`
	Amount        int64     `json:"amount"` // minor units of Currency
	Currency      string    `json:"currency"`
	Status        Status    `json:"status"`
	OccurredAt    time.Time `json:"occurred_at"`
	// RefundAmount is, on a refund notification (status refunded), the
	// refunded amount the notification states, in minor units; Amount stays
	// the payment's amount (DESIGN.md section 4).
	RefundAmount int64 `json:"refund_amount,omitempty"`
	// RefundID is the refund's own id where the provider gives one.
	RefundID string `json:"refund_id,omitempty"`
	// Merchant is the account the notification is addressed to (Alipay
	// app_id, WeChat mchid, ...), already checked against configuration.
	Merchant string `json:"-"`
	// Raw holds the provider's fields, decrypted where the provider
	// encrypts, with signature fields removed. A provider may leave it nil
	// and defer it (DeferRaw); read it through Fields.
	Raw map[string]any `json:"raw"`

	// rawFrom builds Raw on first use: most notifications are forwarded as
	// they arrived, by routes without policies, and never need the map.
	rawFrom func() map[string]any
}

// DeferRaw has Fields build Raw with build on first use, for a provider
// whose fields are already at hand in another form (a parsed form body):
// building the map of any values is a fifth of such a provider's verify
// beside the signature, and most notifications never read it. build must
// not fail: the provider has checked everything it needs before.
func (n *Notification) DeferRaw(build func() map[string]any) {
	n.Raw, n.rawFrom = nil, build
}

// Fields returns the provider's fields (Raw), building them first where
// the provider deferred them. The first call on a deferred notification
// writes to it: like the rest of a Notification, it belongs to one
// goroutine at a time.
func (n *Notification) Fields() map[string]any {
	if n.Raw == nil && n.rawFrom != nil {
		n.Raw, n.rawFrom = n.rawFrom(), nil
	}
	return n.Raw
}

// TypeFor gives the normalized event type for a status, used when the
// provider has no event type of its own.
func TypeFor(s Status) string {
	switch s {
	case StatusPaid:
		return "payment.succeeded"
	case StatusRefunded:
		return "payment.refunded"
	case StatusClosed:
		return "payment.closed"
	case StatusPending:
		return "payment.pending"
	case StatusFailed:
		return "payment.failed"
	}
	return "payment.other"
}
