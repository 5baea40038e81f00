package stripe

import (
	"errors"
	"fmt"
	"time"

	"github.com/payguard/payguard/internal/notification"
)

// Object kinds (data.object.object) whose payment fields payguard reads.
const (
	kindPaymentIntent   = "payment_intent"
	kindCharge          = "charge"
	kindCheckoutSession = "checkout.session"
	kindInvoice         = "invoice"
	kindRefund          = "refund"
)

// Longest ids and words accepted. Stripe's ids are far shorter; the bounds
// keep hostile values out of logs, headers and store keys.
const (
	maxIDLen      = 255
	maxTypeLen    = 100
	maxOrderNoLen = 500 // Stripe's limit for a metadata value
)

// events is, for each known event type, the object kind it carries (an
// event whose object is of another kind is malformed, never guessed at)
// and the status it gives the payment (providers.md section 6, status
// map); no status where the object decides: a Checkout session's
// payment_status, a refund's status.
var events = map[string]struct {
	kind   string
	status notification.Status
}{
	"payment_intent.succeeded":                 {kindPaymentIntent, notification.StatusPaid},
	"payment_intent.processing":                {kindPaymentIntent, notification.StatusPending},
	"payment_intent.payment_failed":            {kindPaymentIntent, notification.StatusFailed},
	"payment_intent.canceled":                  {kindPaymentIntent, notification.StatusClosed},
	"charge.succeeded":                         {kindCharge, notification.StatusPaid},
	"charge.failed":                            {kindCharge, notification.StatusFailed},
	"charge.refunded":                          {kindCharge, notification.StatusRefunded},
	"checkout.session.completed":               {kindCheckoutSession, ""},
	"checkout.session.async_payment_succeeded": {kindCheckoutSession, ""},
	"checkout.session.async_payment_failed":    {kindCheckoutSession, notification.StatusFailed},
	"checkout.session.expired":                 {kindCheckoutSession, notification.StatusClosed},
	"invoice.paid":                             {kindInvoice, notification.StatusPaid},
	"refund.created":                           {kindRefund, ""},
	"refund.updated":                           {kindRefund, ""},
	"refund.failed":                            {kindRefund, ""},
	"charge.refund.updated":                    {kindRefund, ""},
}

// normalize reads a decoded v1 event (object "event") into a notification.
// Errors are the body's fault (malformed).
func normalize(ev map[string]any) (*notification.Notification, error) {
	object, err := str(ev, "object")
	if err != nil {
		return nil, err
	}
	switch object {
	case "event":
	case "v2.core.event":
		return nil, errors.New("thin events (v2.core.event) carry no payment and are not accepted: send snapshot events to this route")
	default:
		return nil, fmt.Errorf("object is %s, not event", quote(object))
	}
	n := &notification.Notification{Provider: Name, Raw: ev}
	if n.EventID, err = str(ev, "id"); err != nil {
		return nil, err
	}
	if !validID(n.EventID, "evt_") {
		return nil, fmt.Errorf("event id %s is not a Stripe event id", quote(n.EventID))
	}
	if n.Type, err = str(ev, "type"); err != nil {
		return nil, err
	}
	if !validType(n.Type) {
		return nil, fmt.Errorf("event type %s is not a Stripe event type", quote(n.Type))
	}
	if n.Merchant, err = str(ev, "account"); err != nil {
		return nil, err
	}
	if n.Merchant != "" && !validID(n.Merchant, "acct_") {
		return nil, fmt.Errorf("account %s is not a Stripe account id", quote(n.Merchant))
	}
	if _, err := boolean(ev, "livemode"); err != nil {
		return nil, err
	}
	created, ok, err := count(ev, "created")
	if err != nil || !ok {
		return nil, errors.Join(errors.New("created is not a Unix time"), err)
	}
	n.OccurredAt = time.Unix(created, 0).UTC()

	data, err := obj(ev, "data")
	if err != nil || data == nil {
		return nil, errors.Join(errors.New("data object missing"), err)
	}
	o, err := obj(data, "object")
	if err != nil || o == nil {
		return nil, errors.Join(errors.New("data.object missing"), err)
	}
	if err := fillObject(n, o); err != nil {
		return nil, err
	}
	return n, nil
}

// fillObject reads the payment fields of data.object and the status the
// event type gives them (providers.md section 6, status map).
func fillObject(n *notification.Notification, o map[string]any) error {
	kind, err := str(o, "object")
	if err != nil {
		return fmt.Errorf("data.object.%v", err)
	}
	n.Status = notification.StatusOther
	if ev, known := events[n.Type]; known {
		if kind != ev.kind {
			return fmt.Errorf("a %s event carries a %s, not a %s", n.Type, quote(kind), ev.kind)
		}
		if ev.status != "" {
			n.Status = ev.status
		}
	}
	var f func(*notification.Notification, map[string]any) error
	switch kind {
	case kindPaymentIntent:
		f = fillPaymentIntent
	case kindCharge:
		f = fillCharge
	case kindCheckoutSession:
		f = fillCheckoutSession
	case kindInvoice:
		f = fillInvoice
	case kindRefund:
		f = fillRefund
	default:
		// Customers, subscriptions, disputes...: no payment fields, but an
		// order number where the merchant put one in metadata.
		n.OutTradeNo, err = orderNumber(o, false)
		return err
	}
	if err := f(n, o); err != nil {
		return fmt.Errorf("data.object: %v", err)
	}
	return nil
}

// objectStatus reads the object's own status word and, for the event types
// that say "paid", checks that the snapshot agrees: a succeeded event whose
// object is not succeeded is a contradiction, not a payment.
func objectStatus(o map[string]any, key string, paidWord string, n *notification.Notification) (string, error) {
	s, err := str(o, key)
	if err != nil {
		return "", err
	}
	if n.Status == notification.StatusPaid && s != paidWord {
		return "", fmt.Errorf("%s event with %s %s", n.Type, key, quote(s))
	}
	return s, nil
}

func fillPaymentIntent(n *notification.Notification, o map[string]any) error {
	if _, err := objectStatus(o, "status", "succeeded", n); err != nil {
		return err
	}
	if err := ids(n, o, "", "pi_"); err != nil {
		return err
	}
	// What the buyer paid is amount_received (a partial capture takes less
	// than amount); before that, the amount asked for.
	amountKey := "amount"
	if n.Status == notification.StatusPaid {
		amountKey = "amount_received"
	}
	return money(n, o, amountKey, n.Status == notification.StatusPaid)
}

func fillCharge(n *notification.Notification, o map[string]any) error {
	if n.Type == "charge.succeeded" {
		// An uncaptured charge is an authorization: the money may never
		// move. Stripe sends payment_intent.succeeded once it is captured.
		if captured, err := boolean(o, "captured"); err != nil {
			return err
		} else if !captured {
			n.Status = notification.StatusPending
		}
	}
	if _, err := objectStatus(o, "status", "succeeded", n); err != nil {
		return err
	}
	if err := ids(n, o, "payment_intent", "ch_", "py_"); err != nil {
		return err
	}
	if err := money(n, o, "amount", n.Status == notification.StatusPaid || n.Status == notification.StatusRefunded); err != nil {
		return err
	}
	if n.Status != notification.StatusRefunded {
		return nil
	}
	// amount_refunded is the charge's refunds so far (DESIGN.md section 4).
	refunded, ok, err := count(o, "amount_refunded")
	if err != nil || !ok {
		return errors.Join(errors.New("amount_refunded missing"), err)
	}
	if n.RefundAmount, err = toMinor(refunded, n.Currency); err != nil {
		return fmt.Errorf("amount_refunded: %v", err)
	}
	if n.RefundAmount > n.Amount {
		return errors.New("amount_refunded exceeds amount")
	}
	n.RefundID, err = latestRefund(o)
	return err
}

// latestRefund is the id of the newest refund in the charge's refunds
// list. API versions since 2022-11-15 leave the list out of the snapshot:
// then there is no refund id (the refund.* events carry it).
func latestRefund(o map[string]any) (string, error) {
	list, err := obj(o, "refunds")
	if err != nil || list == nil {
		return "", err
	}
	data, ok := list["data"].([]any)
	if !ok {
		if list["data"] == nil {
			return "", nil
		}
		return "", errors.New("refunds.data is not a list")
	}
	var id string
	var newest int64 = -1
	for _, item := range data {
		r, ok := item.(map[string]any)
		if !ok {
			return "", errors.New("refunds.data holds a non-object")
		}
		rid, err := str(r, "id")
		if err != nil || !validID(rid, "re_", "pyr_") {
			return "", errors.Join(errors.New("refunds.data[].id is not a refund id"), err)
		}
		created, _, err := count(r, "created")
		if err != nil {
			return "", err
		}
		if created > newest {
			id, newest = rid, created
		}
	}
	return id, nil
}

func fillCheckoutSession(n *notification.Notification, o map[string]any) error {
	ps, err := str(o, "payment_status")
	if err != nil {
		return err
	}
	if n.Type == "checkout.session.completed" || n.Type == "checkout.session.async_payment_succeeded" {
		switch ps {
		case "paid":
			n.Status = notification.StatusPaid
		case "unpaid":
			n.Status = notification.StatusPending
		}
		// no_payment_required (a free order, a setup session): other.
	}
	if err := ids(n, o, "payment_intent", "cs_"); err != nil {
		return err
	}
	// Checkout's own order reference comes first.
	ref, err := str(o, "client_reference_id")
	if err != nil {
		return err
	}
	if ref != "" {
		if len(ref) > maxOrderNoLen {
			return errors.New("client_reference_id is too long")
		}
		n.OutTradeNo = ref
	}
	return money(n, o, "amount_total", n.Status == notification.StatusPaid)
}

func fillInvoice(n *notification.Notification, o map[string]any) error {
	if _, err := objectStatus(o, "status", "paid", n); err != nil {
		return err
	}
	// The invoice's own id: invoice.payment_intent left the API in
	// 2025-03-31 (basil), and a transaction id must not change with the
	// endpoint's API version.
	if err := ids(n, o, "", "in_"); err != nil {
		return err
	}
	return money(n, o, "amount_paid", n.Status == notification.StatusPaid)
}

// fillRefund reads a refund object. It names only the refund, not the
// payment it refunds: Amount and RefundAmount are both the refund's.
func fillRefund(n *notification.Notification, o map[string]any) error {
	st, err := str(o, "status")
	if err != nil {
		return err
	}
	if _, known := events[n.Type]; known {
		switch st {
		case "succeeded":
			n.Status = notification.StatusRefunded
		case "failed":
			n.Status = notification.StatusFailed
		}
	}
	rid, err := str(o, "id")
	if err != nil || !validID(rid, "re_", "pyr_") {
		return errors.Join(errors.New("id is not a refund id"), err)
	}
	n.RefundID = rid
	if n.TransactionID, err = str(o, "payment_intent"); err != nil {
		return err
	}
	if n.TransactionID == "" {
		if n.TransactionID, err = str(o, "charge"); err != nil {
			return err
		}
	}
	if n.TransactionID != "" && !validID(n.TransactionID, "pi_", "ch_", "py_") {
		return fmt.Errorf("refunded payment %s is not a Stripe id", quote(n.TransactionID))
	}
	if n.OutTradeNo, err = orderNumber(o, false); err != nil {
		return err
	}
	if err := money(n, o, "amount", n.Status == notification.StatusRefunded); err != nil {
		return err
	}
	n.RefundAmount = n.Amount
	return nil
}

// ids sets the transaction id (the PaymentIntent where the object names
// one, so that payment_intent.succeeded and charge.succeeded of one
// payment carry the same transaction; else the object's own id) and the
// order number from metadata unless one is set already.
func ids(n *notification.Notification, o map[string]any, piKey string, prefixes ...string) error {
	own, err := str(o, "id")
	if err != nil || !validID(own, prefixes...) {
		return errors.Join(fmt.Errorf("id is not a %v id", prefixes), err)
	}
	n.TransactionID = own
	if piKey != "" {
		pi, err := str(o, piKey)
		if err != nil {
			return err
		}
		if pi != "" {
			if !validID(pi, "pi_") {
				return fmt.Errorf("%s %s is not a PaymentIntent id", piKey, quote(pi))
			}
			n.TransactionID = pi
		}
	}
	if n.OutTradeNo == "" {
		n.OutTradeNo, err = orderNumber(o, true)
	}
	return err
}

// orderNumber is metadata.out_trade_no, else metadata.order_id (DESIGN.md
// section 4 reads these two keys in that order). Stripe's metadata is a
// map of strings; with strict, any other value type is an error.
func orderNumber(o map[string]any, strict bool) (string, error) {
	md, err := obj(o, "metadata")
	if err != nil {
		if strict {
			return "", err
		}
		return "", nil
	}
	for _, k := range []string{"out_trade_no", "order_id"} {
		v, err := str(md, k)
		if err != nil {
			return "", fmt.Errorf("metadata.%v", err)
		}
		if len(v) > maxOrderNoLen {
			return "", fmt.Errorf("metadata.%s is too long", k)
		}
		if v != "" {
			return v, nil
		}
	}
	return "", nil
}

// money reads the amount under key and the currency, converted to ISO
// minor units. With required, both must be there.
func money(n *notification.Notification, o map[string]any, key string, required bool) error {
	cur, err := str(o, "currency")
	if err != nil {
		return err
	}
	amount, present, err := count(o, key)
	if err != nil {
		return err
	}
	if cur == "" {
		if required || present {
			return errors.New("currency missing")
		}
		return nil
	}
	if n.Currency, err = parseCurrency(cur); err != nil {
		return err
	}
	if !present {
		if required {
			return fmt.Errorf("%s missing", key)
		}
		return nil
	}
	if n.Amount, err = toMinor(amount, n.Currency); err != nil {
		return fmt.Errorf("%s %d %s: %v", key, amount, n.Currency, err)
	}
	return nil
}

// validID checks a Stripe object id: one of prefixes, then letters,
// digits and underscores. Ids go into URL paths, store keys and headers,
// so nothing else is let through.
func validID(s string, prefixes ...string) bool {
	if len(s) > maxIDLen {
		return false
	}
	ok := false
	for _, p := range prefixes {
		if len(s) > len(p) && s[:len(p)] == p {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validType checks an event type: lower-case words joined by dots.
func validType(s string) bool {
	if s == "" || len(s) > maxTypeLen || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
