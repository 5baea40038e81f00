package recovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/strictjson"
)

// MaxOutTradeNo is the longest order number a registration may carry
// (the longest any supported provider takes).
const MaxOutTradeNo = 64

// Registration is the body a shop POSTs to a `mode watch` route
// (DESIGN.md section 11): the order number, optionally the amount in minor
// units and the currency, and txn_time for UnionPay orders.
type Registration struct {
	OutTradeNo string `json:"out_trade_no"`
	Amount     *int64 `json:"amount,omitempty"`
	Currency   string `json:"currency,omitempty"`
	TxnTime    string `json:"txn_time,omitempty"`
}

// ParseRegistration reads a watch registration strictly: one JSON object,
// no unknown or duplicate keys, a printable order number of at most
// MaxOutTradeNo bytes, a non-negative amount, an ISO 4217 code. Every
// error is reason malformed; it never panics.
func ParseRegistration(body []byte) (*Registration, error) {
	bad := func(format string, args ...any) error {
		return reason.New(reason.Malformed, "watch registration: "+format, args...)
	}
	if _, err := strictjson.DecodeObject(body); err != nil {
		return nil, bad("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r Registration
	if err := dec.Decode(&r); err != nil {
		return nil, bad("not the expected JSON object: %v", clip(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad("trailing data after the object")
	}
	if err := checkToken(r.OutTradeNo, MaxOutTradeNo); err != nil {
		return nil, bad("out_trade_no %v", err)
	}
	if r.Amount != nil && *r.Amount < 0 {
		return nil, bad("amount is negative")
	}
	if r.Currency != "" && !notification.IsCurrencyCode(r.Currency) {
		return nil, bad("currency is not an ISO 4217 code")
	}
	if r.TxnTime != "" {
		if err := checkToken(r.TxnTime, 14); err != nil {
			return nil, bad("txn_time %v", err)
		}
	}
	return &r, nil
}

// Watch is the registration as a store watch of providerName.
func (r *Registration) Watch(providerName string) store.Watch {
	w := store.Watch{Provider: providerName, OutTradeNo: r.OutTradeNo, Currency: r.Currency}
	if r.Amount != nil {
		w.HasAmount, w.Amount = true, *r.Amount
	}
	if r.TxnTime != "" {
		w.Hints = map[string]string{"txn_time": r.TxnTime}
	}
	return w
}

func checkToken(s string, max int) error {
	if s == "" {
		return errors.New("is missing")
	}
	if len(s) > max {
		return fmt.Errorf("is longer than %d bytes", max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return errors.New("holds a character outside printable ASCII")
		}
	}
	return nil
}

// clip keeps decoder errors short: they may quote the input.
func clip(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
