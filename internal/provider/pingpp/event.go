package pingpp

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// The event types payguard maps; every other type passes as status other.
const (
	TypeChargeSucceeded = "charge.succeeded"
	TypeRefundSucceeded = "refund.succeeded"
)

// refundCurrency is the currency of a refund notice: Ping++'s refund
// object carries none, and Ping++ charges settle in CNY.
const refundCurrency = "CNY"

// maxID bounds ids (Ping++'s are a prefix and 24 characters).
const maxID = 64

// event is a parsed Ping++ event envelope: the body's text, which its
// members and the deferred Raw slice, and data.object's members.
type event struct {
	id      string
	typ     string
	created time.Time
	object  object // data.object
	text    string
}

// object is a JSON object as its members (strictjson.Members), read as
// the type assertions on a decoded map read it: a value of another type
// reads as absent.
type object []strictjson.Member

func (o object) raw(key string) (string, bool) { return strictjson.Find(o, key) }

func (o object) has(key string) bool {
	_, ok := o.raw(key)
	return ok
}

// str is o[key].(string): "" when absent or not a string.
func (o object) str(key string) string {
	raw, _ := o.raw(key)
	s, _ := strictjson.Text(raw)
	return s
}

// boolean is o[key].(bool).
func (o object) boolean(key string) bool {
	raw, _ := o.raw(key)
	return raw == "true"
}

// int is strictjson.Int(o[key]): a number's text is its json.Number.
func (o object) int(key string) (int64, bool) {
	raw, _ := o.raw(key)
	if raw == "" || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	return strictjson.Int(json.Number(raw))
}

// dataObject is where an event's object is.
var dataObject = []string{"data", "object"}

// parseEvent reads the envelope strictly: one JSON object, no repeated key
// at any depth, `object` "event", an `evt_` id, a type, a created time in
// unix seconds and a data.object. Errors are malformed and quote no
// values beyond a shortened id or type.
//
// The body is read for its members and data.object's in one pass
// (strictjson.MembersAt: DecodeObject's rules and errors, no map built);
// Raw is decoded from the same text only when someone reads it (fill).
func parseEvent(body []byte) (event, error) {
	text := string(body)
	room := make([]strictjson.Member, 0, 48) // the envelope's members, then the object's
	ms, obj, found, err := strictjson.MembersAt(text, dataObject, room[:0:16], room[16:16])
	if err != nil {
		return event{}, reason.Wrap(reason.Malformed, err, "pingpp event")
	}
	m := object(ms)
	ev := event{text: text}
	if m.str("object") != "event" {
		return event{}, reason.New(reason.Malformed, "pingpp: object is not \"event\"")
	}
	ev.id = m.str("id")
	if !strings.HasPrefix(ev.id, "evt_") || len(ev.id) == len("evt_") || !isToken(ev.id) {
		return event{}, reason.New(reason.Malformed, "pingpp: id %s is not an evt_ id", quote(ev.id))
	}
	ev.typ = m.str("type")
	if ev.typ == "" || !isToken(ev.typ) {
		return event{}, reason.New(reason.Malformed, "pingpp: type missing or not a word")
	}
	secs, ok := m.int("created")
	if !ok {
		return event{}, reason.New(reason.Malformed, "pingpp: created is not unix seconds")
	}
	ev.created = time.Unix(secs, 0).UTC()
	if ev.object = obj; !found {
		return event{}, reason.New(reason.Malformed, "pingpp: data.object missing")
	}
	return ev, nil
}

// fill maps the event into n: a charge.succeeded charge, a
// refund.succeeded refund, or any other event as status other with what
// its object offers.
func (ev *event) fill(n *notification.Notification) error {
	*n = notification.Notification{
		Provider: Name, EventID: ev.id, Type: ev.typ,
		OccurredAt: ev.created, Status: notification.StatusOther,
	}
	text := ev.text
	n.DeferRaw(func() map[string]any {
		// Members accepted text, so DecodeObjectString does
		// (FuzzMembersMatchesDecodeObject): it cannot fail here.
		m, _ := strictjson.DecodeObjectString(text)
		return m
	})
	o := ev.object
	n.Merchant = o.str("app")
	switch ev.typ {
	case TypeChargeSucceeded:
		return mapCharge(n, o)
	case TypeRefundSucceeded:
		return mapRefund(n, o)
	}
	// Best effort for the types payguard does not map: nothing here
	// claims money moved, so nothing is required.
	n.OutTradeNo = o.str("order_no")
	n.TransactionID = o.str("id")
	n.Amount, _ = o.int("amount")
	if c := o.str("currency"); c != "" {
		n.Currency = upperCurrency(c)
	}
	return nil
}

// mapCharge: Ping++ amounts are already integer fen; currency is written
// lower-case ("cny"). paid must be true for status paid: a
// charge.succeeded that says otherwise is not believed to be a payment.
func mapCharge(n *notification.Notification, o object) error {
	if o.str("object") != "charge" {
		return reason.New(reason.Malformed, "pingpp: charge.succeeded without a charge object")
	}
	var err error
	if n.TransactionID, err = requireID(o, "id", "ch_"); err != nil {
		return err
	}
	if n.OutTradeNo, err = requireID(o, "order_no", ""); err != nil {
		return err
	}
	amount, ok := o.int("amount")
	if !ok {
		return reason.New(reason.Malformed, "pingpp: charge amount is not integer fen")
	}
	n.Amount = amount
	cur := o.str("currency")
	if !isCurrency(cur) {
		return reason.New(reason.Malformed, "pingpp: charge currency %s is not an ISO 4217 code", quote(cur))
	}
	n.Currency = upperCurrency(cur)
	if o.boolean("paid") {
		n.Status = notification.StatusPaid
	}
	if t, ok := o.int("time_paid"); ok && t > 0 {
		n.OccurredAt = time.Unix(t, 0).UTC()
	}
	return nil
}

// mapRefund: the refund object names its charge (id and order number) and
// this refund's amount. It does not carry the charge's amount, so Amount
// is the refund's too (the README's refund table says so); RefundID is the
// refund's re_ id, which the shop books each refund once by.
func mapRefund(n *notification.Notification, o object) error {
	if o.str("object") != "refund" {
		return reason.New(reason.Malformed, "pingpp: refund.succeeded without a refund object")
	}
	var err error
	if n.RefundID, err = requireID(o, "id", "re_"); err != nil {
		return err
	}
	if n.TransactionID, err = requireID(o, "charge", "ch_"); err != nil {
		return err
	}
	// charge_order_no is the charge's order number in current API
	// versions; older refund objects carry it as order_no.
	key := "charge_order_no"
	if !o.has(key) {
		key = "order_no"
	}
	if n.OutTradeNo, err = requireID(o, key, ""); err != nil {
		return err
	}
	amount, ok := o.int("amount")
	if !ok {
		return reason.New(reason.Malformed, "pingpp: refund amount is not integer fen")
	}
	n.Amount, n.RefundAmount, n.Currency = amount, amount, refundCurrency
	if o.boolean("succeed") || o.str("status") == "succeeded" {
		n.Status = notification.StatusRefunded
	}
	if t, ok := o.int("time_succeed"); ok && t > 0 {
		n.OccurredAt = time.Unix(t, 0).UTC()
	}
	return nil
}

// requireID reads a non-empty id-like string field, with a prefix when
// given.
func requireID(o object, key, prefix string) (string, error) {
	s := o.str(key)
	if s == "" || len(s) > maxID || !strings.HasPrefix(s, prefix) || !isToken(s) {
		return "", reason.New(reason.Malformed, "pingpp: %s missing or not an id", key)
	}
	return s, nil
}

// isToken: ids and type words are printable ASCII without spaces, so they
// go into headers and store keys as they are.
func isToken(s string) bool {
	if len(s) > maxID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// upperCurrency is strings.ToUpper of a currency code, without its
// allocation for "cny", the currency of every domestic charge.
func upperCurrency(c string) string {
	if c == "cny" {
		return "CNY"
	}
	return strings.ToUpper(c)
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := s[i] | 0x20 // lower-case ASCII letters
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// quote renders an untrusted value for an error detail, cut short.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "..."
	}
	return strconv.Quote(s)
}
