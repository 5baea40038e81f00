package stdwebhooks

import (
	"context"
	"fmt"
	"net/http"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/policy"
)

// A Standard Webhooks payload has no fixed schema, so each normalized field
// comes from a CEL expression over `body` (the parsed JSON object) and
// `headers` (canonical header name to first value), compiled once at
// provision with the type the field must have.

// The mapping options, in the order help texts list them.
const (
	FieldEventID       = "event_id"
	FieldOutTradeNo    = "out_trade_no"
	FieldTransactionID = "transaction_id"
	FieldAmount        = "amount"
	FieldCurrency      = "currency"
	FieldStatus        = "status"
)

// mappingField is one mappable field: its type and the expression used
// when the option is not configured.
type mappingField struct {
	name   string
	result policy.ResultType
	def    string
	doc    string
}

// Defaults: the event id is the signed webhook-id (stable across the
// sender's retries, as the spec requires), and the rest follow the spec's
// recommended envelope ({"type", "timestamp", "data"}) with payguard's own
// field names under data. A body that lacks a field a default reads is
// malformed: a payment gate never guesses an amount or an order.
var mappingFields = []mappingField{
	{FieldEventID, policy.String, `headers["Webhook-Id"]`,
		"CEL (string): the event id the store deduplicates on"},
	{FieldOutTradeNo, policy.String, `string(body.data.out_trade_no)`,
		"CEL (string): the merchant's order number"},
	{FieldTransactionID, policy.String, `has(body.data) && has(body.data.transaction_id) ? string(body.data.transaction_id) : ""`,
		"CEL (string): the sender's transaction id"},
	{FieldAmount, policy.Int, `body.data.amount`,
		"CEL (int): the amount in the currency's ISO 4217 minor unit"},
	{FieldCurrency, policy.String, `body.data.currency`,
		"CEL (string): the ISO 4217 currency code"},
	{FieldStatus, policy.String, `body.data.status`,
		"CEL (string): paid, refunded, closed, pending, failed or other"},
}

// DefaultMapping is the expression a field uses when its option is unset.
func DefaultMapping(field string) string {
	for _, f := range mappingFields {
		if f.name == field {
			return f.def
		}
	}
	return ""
}

// fieldMap holds the compiled mappings, by field name.
type fieldMap map[string]*policy.Mapping

// compileFields compiles the configured expressions (by field name; a
// missing or empty one takes the default). An expression that does not
// parse, names something unknown, or has a static type other than the
// field's is an error naming the field.
func compileFields(src map[string]string) (fieldMap, error) {
	for name := range src {
		if DefaultMapping(name) == "" {
			return nil, fmt.Errorf("unknown mapping %q", name)
		}
	}
	out := fieldMap{}
	for _, f := range mappingFields {
		s := src[f.name]
		if s == "" {
			s = f.def
		}
		m, err := policy.CompileMapping(f.name, s, f.result)
		if err != nil {
			return nil, err
		}
		out[f.name] = m
	}
	return out, nil
}

// checkMapping is the option table's Parse for a mapping: it compiles the
// expression and drops the result.
func checkMapping(name string, result policy.ResultType) func([]byte) error {
	return func(b []byte) error {
		_, err := policy.CompileMapping(name, string(b), result)
		return err
	}
}

// apply evaluates every mapping on a verified body and checks what they
// yield (checkFields).
func (f fieldMap) apply(body map[string]any, h http.Header) (notification.Notification, error) {
	msg := &policy.Message{Body: body, Headers: policy.HeaderMap(h)}
	ctx := context.Background()
	var n notification.Notification
	str := func(name string) (string, error) { return f[name].EvalString(ctx, msg) }
	var err error
	if n.EventID, err = str(FieldEventID); err != nil {
		return n, err
	}
	if n.OutTradeNo, err = str(FieldOutTradeNo); err != nil {
		return n, err
	}
	if n.TransactionID, err = str(FieldTransactionID); err != nil {
		return n, err
	}
	if n.Amount, err = f[FieldAmount].EvalInt(ctx, msg); err != nil {
		return n, err
	}
	if n.Currency, err = str(FieldCurrency); err != nil {
		return n, err
	}
	status, err := str(FieldStatus)
	if err != nil {
		return n, err
	}
	n.Status = notification.Status(status)
	return n, checkFields(&n)
}

// Limits on mapped values: each becomes a store key or a forwarded header.
const maxFieldLen = 256

// checkFields holds what the mappings yielded to the contract: a status
// word, a non-negative amount, an ISO-shaped currency, header-safe ids,
// and for a payment or refund the order and currency it is about.
func checkFields(n *notification.Notification) error {
	if !n.Status.Valid() {
		return fmt.Errorf("status: %q is not one of paid, refunded, closed, pending, failed, other", clip(string(n.Status)))
	}
	if n.EventID == "" {
		return fmt.Errorf("event_id: empty")
	}
	for _, v := range []struct{ name, val string }{
		{FieldEventID, n.EventID}, {FieldOutTradeNo, n.OutTradeNo}, {FieldTransactionID, n.TransactionID},
	} {
		if len(v.val) > maxFieldLen {
			return fmt.Errorf("%s: longer than %d bytes", v.name, maxFieldLen)
		}
		for i := 0; i < len(v.val); i++ {
			if c := v.val[i]; c < ' ' || c == 0x7f {
				return fmt.Errorf("%s: holds a control character", v.name)
			}
		}
	}
	if n.Amount < 0 {
		return fmt.Errorf("amount: negative")
	}
	if n.Currency != "" && !notification.IsCurrencyCode(n.Currency) {
		return fmt.Errorf("currency: %q is not an ISO 4217 code", clip(n.Currency))
	}
	if n.Status == notification.StatusPaid || n.Status == notification.StatusRefunded {
		if n.OutTradeNo == "" || n.Currency == "" {
			return fmt.Errorf("a %s notification needs out_trade_no and currency", n.Status)
		}
	}
	return nil
}

// clip shortens untrusted text for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
