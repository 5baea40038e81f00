package paypal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

// event is the part of a PayPal webhook event payguard reads. The raw
// body stays the source of truth: the signature is over its bytes.
type event struct {
	ID           string          `json:"id"`
	EventType    string          `json:"event_type"`
	ResourceType string          `json:"resource_type"`
	CreateTime   string          `json:"create_time"`
	Resource     json.RawMessage `json:"resource"`
}

// resource covers the shapes payguard maps: a capture (PAYMENT.CAPTURE.*),
// a refund (PAYMENT.CAPTURE.REFUNDED and REVERSED) and an order
// (CHECKOUT.ORDER.*).
type resource struct {
	ID                string         `json:"id"`
	Status            string         `json:"status"`
	Amount            *money         `json:"amount"`
	CustomID          string         `json:"custom_id"`
	InvoiceID         string         `json:"invoice_id"`
	SupplementaryData *supplementary `json:"supplementary_data"`
	Links             []link         `json:"links"`
	PurchaseUnits     []purchaseUnit `json:"purchase_units"`
}

type money struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

type supplementary struct {
	RelatedIDs struct {
		OrderID string `json:"order_id"`
	} `json:"related_ids"`
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

type purchaseUnit struct {
	CustomID  string `json:"custom_id"`
	InvoiceID string `json:"invoice_id"`
	Amount    *money `json:"amount"`
}

// eventStatus maps PayPal's event names to the contract's status words
// (providers.md section 7; everything else is other).
var eventStatus = map[string]notification.Status{
	"PAYMENT.CAPTURE.COMPLETED": notification.StatusPaid,
	"PAYMENT.CAPTURE.PENDING":   notification.StatusPending,
	"CHECKOUT.ORDER.APPROVED":   notification.StatusPending,
	"PAYMENT.CAPTURE.DENIED":    notification.StatusFailed,
	"PAYMENT.CAPTURE.DECLINED":  notification.StatusFailed,
	"PAYMENT.CAPTURE.REFUNDED":  notification.StatusRefunded,
	"PAYMENT.CAPTURE.REVERSED":  notification.StatusRefunded,
	"CHECKOUT.ORDER.VOIDED":     notification.StatusClosed,
}

// maxEventID bounds the event id, which becomes a store key.
const maxEventID = 128

// parseEvent reads the event JSON into the normalized notification.
// Missing or ill-typed fields the mapping needs are malformed; it never
// panics, whatever the bytes.
func parseEvent(body []byte) (*notification.Notification, error) {
	var ev event
	if err := decodeObject(body, &ev); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "paypal: event")
	}
	if !printable(ev.ID, maxEventID) {
		return nil, reason.New(reason.Malformed, "paypal: event id missing or not printable ASCII")
	}
	if !printable(ev.EventType, 128) {
		return nil, reason.New(reason.Malformed, "paypal: event_type missing or not printable ASCII")
	}
	status, known := eventStatus[ev.EventType]
	if !known {
		status = notification.StatusOther
	}
	n := &notification.Notification{
		Provider: "paypal",
		EventID:  ev.ID,
		Status:   status,
		Type:     notification.TypeFor(status),
	}
	if status == notification.StatusOther {
		n.Type = strings.ToLower(ev.EventType)
	}
	if t, err := time.Parse(time.RFC3339Nano, ev.CreateTime); err == nil {
		n.OccurredAt = t.UTC()
	}
	var raw map[string]any
	if err := decodeObject(body, &raw); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "paypal: event")
	}
	n.Raw = raw
	if err := mapResource(n, ev); err != nil {
		return nil, err
	}
	return n, nil
}

// mapResource fills the order, transaction and money fields from the
// event's resource, by the event's family.
func mapResource(n *notification.Notification, ev event) error {
	var r resource
	if len(ev.Resource) > 0 && !bytes.Equal(ev.Resource, []byte("null")) {
		if err := json.Unmarshal(ev.Resource, &r); err != nil {
			return reason.Wrap(reason.Malformed, err, "paypal: resource")
		}
	}
	switch {
	case n.Status == notification.StatusRefunded:
		return mapRefund(n, &r)
	case strings.HasPrefix(ev.EventType, "PAYMENT.CAPTURE."):
		return mapCapture(n, &r)
	case strings.HasPrefix(ev.EventType, "CHECKOUT.ORDER."):
		return mapOrder(n, &r)
	}
	// Other events (billing plans, disputes, ...) carry no payment facts
	// payguard vouches for; their resource id is passed on as a hint.
	if isToken(r.ID) {
		n.TransactionID = r.ID
	}
	return nil
}

// mapCapture: the resource is the capture, its id the transaction.
func mapCapture(n *notification.Notification, r *resource) error {
	if !isToken(r.ID) {
		return reason.New(reason.Malformed, "paypal: capture id missing or malformed")
	}
	n.TransactionID = r.ID
	n.OutTradeNo = firstNonEmpty(r.CustomID, r.InvoiceID)
	if n.OutTradeNo == "" && r.SupplementaryData != nil {
		n.OutTradeNo = r.SupplementaryData.RelatedIDs.OrderID
	}
	if err := checkShopID(n.OutTradeNo); err != nil {
		return err
	}
	return setAmount(n, r.Amount, &n.Amount)
}

// mapRefund: the resource is the refund. Its amount is this refund's
// (Payguard-Refund-Amount), its id the refund id; the transaction is the
// capture its "up" link names. PayPal's refund resource does not carry
// the capture's amount, so Payguard-Amount is the refund's too.
func mapRefund(n *notification.Notification, r *resource) error {
	if !isToken(r.ID) {
		return reason.New(reason.Malformed, "paypal: refund id missing or malformed")
	}
	n.RefundID = r.ID
	n.TransactionID = captureFromLinks(r.Links)
	n.OutTradeNo = firstNonEmpty(r.CustomID, r.InvoiceID)
	if err := checkShopID(n.OutTradeNo); err != nil {
		return err
	}
	if err := setAmount(n, r.Amount, &n.RefundAmount); err != nil {
		return err
	}
	n.Amount = n.RefundAmount
	return nil
}

// mapOrder: the resource is a Checkout order; its first purchase unit
// holds the shop's ids and the amount.
func mapOrder(n *notification.Notification, r *resource) error {
	if !isToken(r.ID) {
		return reason.New(reason.Malformed, "paypal: order id missing or malformed")
	}
	n.TransactionID = r.ID
	n.OutTradeNo = r.ID
	if len(r.PurchaseUnits) == 0 {
		return nil
	}
	pu := r.PurchaseUnits[0]
	if id := firstNonEmpty(pu.CustomID, pu.InvoiceID); id != "" {
		if err := checkShopID(id); err != nil {
			return err
		}
		n.OutTradeNo = id
	}
	if pu.Amount == nil {
		return nil
	}
	return setAmount(n, pu.Amount, &n.Amount)
}

// captureFromLinks returns the capture id of a refund's "up" link
// (https://api.paypal.com/v2/payments/captures/{id}), "" when there is none.
func captureFromLinks(links []link) string {
	const marker = "/v2/payments/captures/"
	for _, l := range links {
		if l.Rel != "up" {
			continue
		}
		if _, id, ok := strings.Cut(l.Href, marker); ok && isToken(id) {
			return id
		}
	}
	return ""
}

// setAmount parses m into *dst (minor units) and sets the currency.
func setAmount(n *notification.Notification, m *money, dst *int64) error {
	if m == nil {
		return reason.New(reason.Malformed, "paypal: resource has no amount")
	}
	v, err := ParseAmount(m.Value, m.CurrencyCode)
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "paypal: amount")
	}
	n.Currency = m.CurrencyCode
	*dst = v
	return nil
}

// decodeObject decodes a JSON object, numbers kept as json.Number so no
// amount ever passes through a float, and nothing may follow it.
func decodeObject(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return errNotObject
	}
	d = json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

var (
	errNotObject = errors.New("not a JSON object")
	errTrailing  = errors.New("data after the JSON object")
)

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// maxShopID is PayPal's limit on custom_id and invoice_id.
const maxShopID = 127

// checkShopID checks an order number the shop set (custom_id, invoice_id):
// PayPal allows any text up to 127 characters, payguard refuses control
// characters, which no header can carry.
func checkShopID(s string) error {
	if len(s) > maxShopID {
		return reason.New(reason.Malformed, "paypal: custom_id or invoice_id longer than %d bytes", maxShopID)
	}
	bad := !utf8.ValidString(s)
	for _, r := range s {
		bad = bad || r < ' ' || r == 0x7f
	}
	if bad {
		return reason.New(reason.Malformed, "paypal: custom_id or invoice_id holds a control character or invalid UTF-8")
	}
	return nil
}

// printable reports whether s is 1..max bytes of printable ASCII without
// spaces.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
