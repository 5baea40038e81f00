package stripe

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/sandbox"
)

// The simulator's Stripe objects, in the field order and shapes of
// Stripe's API reference (trimmed to what a shop reads).

type simEvent struct {
	ID              string     `json:"id"`
	Object          string     `json:"object"`
	APIVersion      string     `json:"api_version"`
	Created         int64      `json:"created"`
	Data            simData    `json:"data"`
	Livemode        bool       `json:"livemode"`
	PendingWebhooks int        `json:"pending_webhooks"`
	Request         simRequest `json:"request"`
	Type            string     `json:"type"`
}

type simData struct {
	Object any `json:"object"`
}

type simRequest struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

type simPaymentIntent struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Amount         int64             `json:"amount"`
	AmountReceived int64             `json:"amount_received"`
	Created        int64             `json:"created"`
	Currency       string            `json:"currency"`
	LatestCharge   *string           `json:"latest_charge"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Status         string            `json:"status"`
}

type simCharge struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Amount         int64             `json:"amount"`
	AmountCaptured int64             `json:"amount_captured"`
	AmountRefunded int64             `json:"amount_refunded"`
	Captured       bool              `json:"captured"`
	Created        int64             `json:"created"`
	Currency       string            `json:"currency"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Paid           bool              `json:"paid"`
	PaymentIntent  string            `json:"payment_intent"`
	Refunded       bool              `json:"refunded"`
	Refunds        simRefundList     `json:"refunds"`
	Status         string            `json:"status"`
}

type simRefundList struct {
	Object  string      `json:"object"`
	Data    []simRefund `json:"data"`
	HasMore bool        `json:"has_more"`
	URL     string      `json:"url"`
}

type simRefund struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	Amount        int64  `json:"amount"`
	Charge        string `json:"charge"`
	Created       int64  `json:"created"`
	Currency      string `json:"currency"`
	PaymentIntent string `json:"payment_intent"`
	Status        string `json:"status"`
}

// sandboxEvent is the event for o in the given status, with amount (ISO
// minor units) as what it states.
func sandboxEvent(o *sandbox.Order, status string, amount int64, created time.Time) ([]byte, error) {
	typ, ok := sandboxEventTypes[status]
	if !ok {
		return nil, fmt.Errorf("stripe: no event for status %q", sandbox.Clip(status))
	}
	var object any
	var err error
	if status == "refunded" {
		object, err = sandboxCharge(o, amount, created)
	} else {
		object, err = sandboxPaymentIntent(o, status, amount, created)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(simEvent{
		ID: o.EventID, Object: "event", APIVersion: sandboxAPIVersion,
		Created: created.Unix(), Data: simData{Object: object},
		PendingWebhooks: 1, Type: typ,
	})
}

// suffix is the random part of the order's PaymentIntent id, reused for
// its charge and refund ids.
func suffix(o *sandbox.Order) string {
	return strings.TrimPrefix(o.TransactionID, "pi_")
}

func sandboxPaymentIntent(o *sandbox.Order, status string, amount int64, created time.Time) (*simPaymentIntent, error) {
	units, err := fromMinor(amount, o.Currency)
	if err != nil {
		return nil, err
	}
	pi := &simPaymentIntent{
		ID: o.TransactionID, Object: kindPaymentIntent, Amount: units,
		Created: created.Unix(), Currency: strings.ToLower(o.Currency),
		Metadata: map[string]string{"out_trade_no": o.OutTradeNo}, Status: status,
	}
	if status == "refunded" { // the PaymentIntent of a refunded charge stays succeeded
		pi.Status = "succeeded"
	}
	if pi.Status == "succeeded" {
		pi.AmountReceived = units
		ch := "ch_" + suffix(o)
		pi.LatestCharge = &ch
	}
	return pi, nil
}

// sandboxCharge is a fully refunded charge.
func sandboxCharge(o *sandbox.Order, amount int64, created time.Time) (*simCharge, error) {
	units, err := fromMinor(amount, o.Currency)
	if err != nil {
		return nil, err
	}
	ch := "ch_" + suffix(o)
	cur := strings.ToLower(o.Currency)
	return &simCharge{
		ID: ch, Object: kindCharge, Amount: units, AmountCaptured: units, AmountRefunded: units,
		Captured: true, Created: created.Unix(), Currency: cur,
		Metadata: map[string]string{"out_trade_no": o.OutTradeNo}, Paid: true,
		PaymentIntent: o.TransactionID, Refunded: true, Status: "succeeded",
		Refunds: simRefundList{Object: "list", URL: "/v1/charges/" + ch + "/refunds", Data: []simRefund{{
			ID: "re_" + suffix(o), Object: kindRefund, Amount: units, Charge: ch,
			Created: created.Unix(), Currency: cur, PaymentIntent: o.TransactionID, Status: "succeeded",
		}}},
	}, nil
}
