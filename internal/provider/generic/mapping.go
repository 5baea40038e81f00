package generic

import (
	"context"
	"fmt"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// maxValue bounds a mapped id: it goes into headers and store keys.
const maxValue = 128

// mappingSpec is one field mapping option: its name, what it must yield,
// and whether it must be configured.
type mappingSpec struct {
	name     string
	result   policy.ResultType
	required bool
	doc      string
}

var mappingSpecs = []mappingSpec{
	{"event_id", policy.String, true, "the partner's stable event id (what dedup claims)"},
	{"out_trade_no", policy.String, true, "the merchant's order number"},
	{"transaction_id", policy.String, false, "the partner's transaction id"},
	{"amount", policy.Int, true, "the amount, an int in the currency's minor unit"},
	{"currency", policy.String, true, "the ISO 4217 code (a constant such as \"CNY\" is fine)"},
	{"status", policy.String, true, "one of paid, refunded, closed, pending, failed, other"},
	{"refund_amount", policy.Int, false, "on refunds: the refunded amount, minor units"},
	{"refund_id", policy.String, false, "on refunds: the refund's own id"},
}

// mappings are the compiled expressions, by option name.
type mappings map[string]*policy.Mapping

// compileMappings type-checks every configured expression; a syntax or
// type error is a configuration error (a *policy.CompileError with CEL's
// line and column).
func compileMappings(sources map[string]string) (mappings, error) {
	m := mappings{}
	for _, s := range mappingSpecs {
		src, ok := sources[s.name]
		if !ok || src == "" {
			if s.required {
				return nil, fmt.Errorf("%s is required (a CEL expression over body, fields and headers)", s.name)
			}
			continue
		}
		c, err := policy.CompileMapping(s.name, src, s.result)
		if err != nil {
			return nil, err
		}
		m[s.name] = c
	}
	return m, nil
}

// apply evaluates the mappings on the signed view into n. An evaluation
// error (a missing field, a wrong type at run time) or a value that cannot
// be what it names is malformed: the partner signed something this
// configuration does not describe.
func (m mappings) apply(msg *policy.Message, n *notification.Notification) error {
	ctx := context.Background() // evaluation is bounded by CEL's cost limit
	str := func(name string, dst *string) error {
		c := m[name]
		if c == nil {
			return nil
		}
		v, err := c.EvalString(ctx, msg)
		if err != nil {
			return reason.Wrap(reason.Malformed, err, "mapping")
		}
		if len(v) > maxValue || !printable(v) {
			return reason.New(reason.Malformed, "mapping %s: %s is not a printable value of at most %d bytes", name, strictjson.Quote(v), maxValue)
		}
		*dst = v
		return nil
	}
	num := func(name string, dst *int64) error {
		c := m[name]
		if c == nil {
			return nil
		}
		v, err := c.EvalInt(ctx, msg)
		if err != nil {
			return reason.Wrap(reason.Malformed, err, "mapping")
		}
		if v < 0 {
			return reason.New(reason.Malformed, "mapping %s: negative amount", name)
		}
		*dst = v
		return nil
	}
	var status string
	for _, err := range []error{
		str("event_id", &n.EventID), str("out_trade_no", &n.OutTradeNo), str("transaction_id", &n.TransactionID),
		num("amount", &n.Amount), str("currency", &n.Currency), str("status", &status),
		num("refund_amount", &n.RefundAmount), str("refund_id", &n.RefundID),
	} {
		if err != nil {
			return err
		}
	}
	return checkMapped(n, notification.Status(status))
}

// checkMapped holds the mapped notification to what the contract's
// headers can carry.
func checkMapped(n *notification.Notification, status notification.Status) error {
	switch {
	case !status.Valid():
		return reason.New(reason.Malformed, "mapping status: %s is not paid, refunded, closed, pending, failed or other", strictjson.Quote(string(status)))
	case n.EventID == "":
		return reason.New(reason.Malformed, "mapping event_id: empty")
	case !notification.IsCurrencyCode(n.Currency):
		return reason.New(reason.Malformed, "mapping currency: %s is not an upper-case ISO 4217 code", strictjson.Quote(n.Currency))
	case n.OutTradeNo == "" && (status == notification.StatusPaid || status == notification.StatusRefunded):
		return reason.New(reason.Malformed, "mapping out_trade_no: empty on a %s notification", status)
	}
	n.Status = status
	if status != notification.StatusRefunded {
		n.RefundAmount, n.RefundID = 0, ""
	}
	return nil
}

// printable: ids go into headers and store keys, so printable ASCII only.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
