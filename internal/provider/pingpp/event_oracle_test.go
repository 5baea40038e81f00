package pingpp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// eventOracle, parseEventOracle and what they call are the event reader
// as it was before it read members instead of decoding the body into maps
// (and built Raw eagerly): the oracle FuzzEventMatchesOracle holds it to.
type eventOracle struct {
	id      string
	typ     string
	created time.Time
	object  map[string]any // data.object
	raw     map[string]any
}

// parseEvent reads the envelope strictly: one JSON object, no repeated key
// at any depth, `object` "event", an `evt_` id, a type, a created time in
// unix seconds and a data.object. Errors are malformed and quote no
// values beyond a shortened id or type.
func parseEventOracle(body []byte) (eventOracle, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return eventOracle{}, reason.Wrap(reason.Malformed, err, "pingpp event")
	}
	ev := eventOracle{raw: m}
	if obj, _ := m["object"].(string); obj != "event" {
		return eventOracle{}, reason.New(reason.Malformed, "pingpp: object is not \"event\"")
	}
	ev.id, _ = m["id"].(string)
	if !strings.HasPrefix(ev.id, "evt_") || len(ev.id) == len("evt_") || !isToken(ev.id) {
		return eventOracle{}, reason.New(reason.Malformed, "pingpp: id %s is not an evt_ id", quote(ev.id))
	}
	ev.typ, _ = m["type"].(string)
	if ev.typ == "" || !isToken(ev.typ) {
		return eventOracle{}, reason.New(reason.Malformed, "pingpp: type missing or not a word")
	}
	secs, ok := strictjson.Int(m["created"])
	if !ok {
		return eventOracle{}, reason.New(reason.Malformed, "pingpp: created is not unix seconds")
	}
	ev.created = time.Unix(secs, 0).UTC()
	data, _ := m["data"].(map[string]any)
	if ev.object, _ = data["object"].(map[string]any); ev.object == nil {
		return eventOracle{}, reason.New(reason.Malformed, "pingpp: data.object missing")
	}
	return ev, nil
}

// fill maps the event into n: a charge.succeeded charge, a
// refund.succeeded refund, or any other event as status other with what
// its object offers.
func (ev *eventOracle) fill(n *notification.Notification) error {
	*n = notification.Notification{
		Provider: Name, EventID: ev.id, Type: ev.typ,
		OccurredAt: ev.created, Status: notification.StatusOther, Raw: ev.raw,
	}
	o := ev.object
	n.Merchant, _ = o["app"].(string)
	switch ev.typ {
	case TypeChargeSucceeded:
		return mapChargeOracle(n, o)
	case TypeRefundSucceeded:
		return mapRefundOracle(n, o)
	}
	// Best effort for the types payguard does not map: nothing here
	// claims money moved, so nothing is required.
	n.OutTradeNo, _ = o["order_no"].(string)
	n.TransactionID, _ = o["id"].(string)
	n.Amount, _ = strictjson.Int(o["amount"])
	if c, _ := o["currency"].(string); c != "" {
		n.Currency = upperCurrency(c)
	}
	return nil
}

// mapCharge: Ping++ amounts are already integer fen; currency is written
// lower-case ("cny"). paid must be true for status paid: a
// charge.succeeded that says otherwise is not believed to be a payment.
func mapChargeOracle(n *notification.Notification, o map[string]any) error {
	if obj, _ := o["object"].(string); obj != "charge" {
		return reason.New(reason.Malformed, "pingpp: charge.succeeded without a charge object")
	}
	var err error
	if n.TransactionID, err = requireIDOracle(o, "id", "ch_"); err != nil {
		return err
	}
	if n.OutTradeNo, err = requireIDOracle(o, "order_no", ""); err != nil {
		return err
	}
	amount, ok := strictjson.Int(o["amount"])
	if !ok {
		return reason.New(reason.Malformed, "pingpp: charge amount is not integer fen")
	}
	n.Amount = amount
	cur, _ := o["currency"].(string)
	if !isCurrency(cur) {
		return reason.New(reason.Malformed, "pingpp: charge currency %s is not an ISO 4217 code", quote(cur))
	}
	n.Currency = upperCurrency(cur)
	if paid, _ := o["paid"].(bool); paid {
		n.Status = notification.StatusPaid
	}
	if t, ok := strictjson.Int(o["time_paid"]); ok && t > 0 {
		n.OccurredAt = time.Unix(t, 0).UTC()
	}
	return nil
}

// mapRefund: the refund object names its charge (id and order number) and
// this refund's amount. It does not carry the charge's amount, so Amount
// is the refund's too (the README's refund table says so); RefundID is the
// refund's re_ id, which the shop books each refund once by.
func mapRefundOracle(n *notification.Notification, o map[string]any) error {
	if obj, _ := o["object"].(string); obj != "refund" {
		return reason.New(reason.Malformed, "pingpp: refund.succeeded without a refund object")
	}
	var err error
	if n.RefundID, err = requireIDOracle(o, "id", "re_"); err != nil {
		return err
	}
	if n.TransactionID, err = requireIDOracle(o, "charge", "ch_"); err != nil {
		return err
	}
	// charge_order_no is the charge's order number in current API
	// versions; older refund objects carry it as order_no.
	key := "charge_order_no"
	if _, ok := o[key]; !ok {
		key = "order_no"
	}
	if n.OutTradeNo, err = requireIDOracle(o, key, ""); err != nil {
		return err
	}
	amount, ok := strictjson.Int(o["amount"])
	if !ok {
		return reason.New(reason.Malformed, "pingpp: refund amount is not integer fen")
	}
	n.Amount, n.RefundAmount, n.Currency = amount, amount, refundCurrency
	succeed, _ := o["succeed"].(bool)
	status, _ := o["status"].(string)
	if succeed || status == "succeeded" {
		n.Status = notification.StatusRefunded
	}
	if t, ok := strictjson.Int(o["time_succeed"]); ok && t > 0 {
		n.OccurredAt = time.Unix(t, 0).UTC()
	}
	return nil
}

// requireID reads a non-empty id-like string field, with a prefix when
// given.
func requireIDOracle(o map[string]any, key, prefix string) (string, error) {
	s, _ := o[key].(string)
	if s == "" || len(s) > maxID || !strings.HasPrefix(s, prefix) || !isToken(s) {
		return "", reason.New(reason.Malformed, "pingpp: %s missing or not an id", key)
	}
	return s, nil
}

// FuzzEventMatchesOracle: on any body (the signature, which fuzzed bodies
// never pass, comes first), parseEvent and fill refuse what the former
// reader refused, with the same code and detail, and otherwise fill the
// same notification and event time, the deferred Raw the map the former
// one decoded.
func FuzzEventMatchesOracle(f *testing.F) {
	for _, s := range []string{chargeEvent, refundEvent, `{}`, `{"object":"event","id":"evt_1","type":"x","created":1,"data":{"object":{}}}`,
		`{"object":"event","id":"evt_1","type":"refund.succeeded","created":1,"data":{"object":{"object":"refund","amount":1e99}}}`,
		`{"object":"event","id":"evt_1","type":"x","created":1,"data":{"object":{"amount":"1","currency":7,"id":null,"app":"a"}}}`,
		`{"object":"event","id":"evt_1","type":"charge.succeeded","created":1,"data":{"object":{"object":"charge","id":"ch_1","order_no":"o","amount":1,"currency":"usd","paid":"true","time_paid":2}}}`,
		`{"object":"event","id":"evt_1","type":"refund.succeeded","created":1,"data":{"object":{"object":"refund","id":"re_1","charge":"ch_1","order_no":"o","charge_order_no":1,"amount":1,"succeed":true}}}`,
		`{"object":"event","id":"evt_1","type":"x","created":-1,"data":{"object":[]}}`, `{"object":"ev\u0065nt","id":"evt_\u0031","data":1}`,
		`{"object":"event","id":"evt_1","type":"x","created":1,"data":{"x":{"object":{}},"object":{"object":{"id":"ch_2"},"id":"ch_1"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := parseEvent(b)
		evo, want := parseEventOracle(b)
		if (err == nil) != (want == nil) || (err != nil && (err.Error() != want.Error() || reason.CodeOf(err, "") != reason.CodeOf(want, ""))) {
			t.Fatalf("%q: parse error %v, oracle %v", b, err, want)
		}
		if err != nil {
			return
		}
		if ev.id != evo.id || ev.typ != evo.typ || !ev.created.Equal(evo.created) {
			t.Fatalf("%q: event %+v, oracle %+v", b, ev, evo)
		}
		var got, wantN notification.Notification
		err, want = ev.fill(&got), evo.fill(&wantN)
		if (err == nil) != (want == nil) || (err != nil && (err.Error() != want.Error() || reason.CodeOf(err, "") != reason.CodeOf(want, ""))) {
			t.Fatalf("%q: fill error %v, oracle %v", b, err, want)
		}
		if err != nil {
			return
		}
		if got.Raw != nil {
			t.Fatalf("%q: Raw built eagerly", b)
		}
		got.Fields() // the deferred Raw, decoded as the oracle decodes it eagerly
		if !reflect.DeepEqual(got, wantN) {
			t.Fatalf("%q: %+v, oracle %+v", b, got, wantN)
		}
	})
}
