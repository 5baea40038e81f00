package pipeline

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Order is the shop's own record of an order (DESIGN.md section 5,
// order_lookup).
type Order struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
}

// OrderLookup fetches the shop's order record. A missing order is a
// reason.OrderMismatch error; an unreachable shop is reason.QueryUnavailable.
type OrderLookup interface {
	LookupOrder(ctx context.Context, outTradeNo string) (*Order, error)
}

// PolicyInput is what a policy sees (DESIGN.md section 7).
type PolicyInput struct {
	Notification *notification.Notification
	Query        *provider.QueryResult
	Order        *Order
	RemoteIP     netip.Addr
	Header       http.Header
	Path         string
}

// Policy is one operator rule; every configured policy must allow.
type Policy interface {
	Name() string
	Allow(ctx context.Context, in *PolicyInput) (bool, error)
}

// checkOrder applies the default order rule: amount and currency must equal
// the notification's.
func checkOrder(n *notification.Notification, o *Order) error {
	if o == nil {
		return reason.New(reason.OrderMismatch, "no such order at the shop")
	}
	if o.Amount != n.Amount || (o.Currency != "" && o.Currency != n.Currency) {
		return reason.New(reason.OrderMismatch, "shop's order is %d %s, notification says %d %s", o.Amount, o.Currency, n.Amount, n.Currency)
	}
	return nil
}
