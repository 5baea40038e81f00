// Package sandbox holds what a simulated provider works with: the order it
// notifies about, the message it puts on the wire, the order book its query
// API answers from, and key-file helpers. Each provider package implements
// its own sandbox (provider.Sandbox) with these types; internal/sim runs
// them (control API, notify loop, key directory) without knowing any
// provider.
//
// A sandbox is a test tool: anyone who can reach its control API can make
// its query API confirm an order. It must only listen where payguard's
// tests and the operator's own machine can reach it.
package sandbox

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payguard/payguard/internal/notification"
)

// Message is a notification as it goes on the wire.
type Message struct {
	Method string
	Header http.Header
	Body   []byte
}

// Order is what the simulated provider knows about one order. JSON is the
// control API's format (POST /_sim/orders).
type Order struct {
	// Provider is the provider name ("alipay", "stripe", ...).
	Provider string `json:"provider"`
	// OutTradeNo is the merchant's order number.
	OutTradeNo string `json:"out_trade_no"`
	// TransactionID is the provider's number; Prepare assigns one.
	TransactionID string `json:"transaction_id,omitempty"`
	// EventID is the notification's stable id; Prepare assigns one where
	// the provider has its own.
	EventID string `json:"event_id,omitempty"`
	// AppID and MchID are the merchant identities the provider stamps.
	AppID string `json:"app_id,omitempty"`
	MchID string `json:"mch_id,omitempty"`
	// Amount is in the ISO 4217 minor unit of Currency (1234 is 12.34 CNY).
	Amount int64 `json:"amount"`
	// Currency is the ISO 4217 code; Prepare defaults it to the provider's.
	Currency string `json:"currency,omitempty"`
	// Status is the provider's own status word; Prepare defaults it to the
	// paid word.
	Status string `json:"status,omitempty"`
	// QueryAmount is what the query API answers as the amount; 0 means
	// Amount. Setting it makes the sandbox disagree with the notification.
	QueryAmount int64 `json:"query_amount,omitempty"`
	// QueryStatus is what the query API answers as the status; default
	// Status (a forged "paid" notification for an unpaid order).
	QueryStatus string `json:"query_status,omitempty"`
	// Buyer is the payer's id.
	Buyer string `json:"buyer,omitempty"`
	// PaidAt is when the buyer paid; Prepare sets it for paid orders.
	PaidAt time.Time `json:"paid_at,omitzero"`
}

// MaxOutTradeNo is the longest order number any simulated provider takes.
const MaxOutTradeNo = 64

// MaxAmount keeps simulated amounts far inside every provider's range.
const MaxAmount = 100_000_000_00

// CheckCommon checks what every provider requires of an order and fills
// the currency and the query amount defaults.
func CheckCommon(o *Order, provider, currency string) error {
	if o.Provider != provider {
		return fmt.Errorf("order is for provider %q, not %s", o.Provider, provider)
	}
	if err := CheckToken("out_trade_no", o.OutTradeNo, MaxOutTradeNo); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"transaction_id", o.TransactionID}, {"event_id", o.EventID},
		{"app_id", o.AppID}, {"mch_id", o.MchID}, {"buyer", o.Buyer},
	} {
		if f.v != "" {
			if err := CheckToken(f.name, f.v, 64); err != nil {
				return err
			}
		}
	}
	if o.Currency == "" {
		o.Currency = currency
	}
	if len(o.Currency) != 3 || strings.ToUpper(o.Currency) != o.Currency {
		return fmt.Errorf("currency %q is not an ISO 4217 code", Clip(o.Currency))
	}
	if o.Amount < 1 || o.Amount > MaxAmount {
		return fmt.Errorf("amount must be between 1 and %d minor units", MaxAmount)
	}
	if o.QueryAmount == 0 {
		o.QueryAmount = o.Amount
	}
	if o.QueryAmount < 0 || o.QueryAmount > MaxAmount {
		return fmt.Errorf("query_amount must be between 1 and %d minor units", MaxAmount)
	}
	return nil
}

// Decimal writes minor units as the currency's decimal ("12.34" for 1234
// CNY, "1234" for JPY).
func Decimal(minor int64, currency string) string {
	return notification.FormatDecimal(minor, notification.CurrencyExponent(currency))
}

// CheckToken keeps ids to the characters the providers allow in order
// numbers (letters, digits, _ - . | *), so a value never needs escaping in
// a form, an XML element, a URL path or a Caddyfile, and cannot smuggle a
// second parameter into a signed string.
func CheckToken(name, v string, max int) error {
	if v == "" {
		return fmt.Errorf("%s is required", name)
	}
	if len(v) > max {
		return fmt.Errorf("%s is longer than %d characters", name, max)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == '|', c == '*':
		default:
			return fmt.Errorf("%s %q holds a character other than letters, digits and _-.|*", name, Clip(v))
		}
	}
	return nil
}

// CheckStatus checks a status word against a provider's list.
func CheckStatus(field, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s %q is not one of %s", field, Clip(v), strings.Join(allowed, ", "))
}

// SettleStatus defaults the order's status (and what the query API will
// answer) to the provider's paid word, checks both against the provider's
// words, and stamps a paid order with the time the buyer paid.
func SettleStatus(o *Order, now time.Time, paidWord string, allowed []string, isPaid func(string) bool) error {
	if o.Status == "" {
		o.Status = paidWord
	}
	if err := CheckStatus("status", o.Status, allowed); err != nil {
		return err
	}
	if o.QueryStatus == "" {
		o.QueryStatus = o.Status
	}
	if err := CheckStatus("query_status", o.QueryStatus, allowed); err != nil {
		return err
	}
	if o.PaidAt.IsZero() && isPaid(o.Status) {
		o.PaidAt = now.Add(-2 * time.Second).Truncate(time.Second)
	}
	return nil
}

// CheckTamper reports an unknown tamper field with the accepted list.
func CheckTamper(provider string, fields []string, tamper string) error {
	if tamper == "" {
		return nil
	}
	for _, f := range fields {
		if f == tamper {
			return nil
		}
	}
	return fmt.Errorf("%s: cannot tamper with %q; one of: %s", provider, Clip(tamper), strings.Join(fields, ", "))
}

// Clip shortens untrusted text for an error message.
func Clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// NewOutTradeNo returns a fresh merchant order number, "SIM" + the time +
// six digits distinct within the second for this process (UniqueDigits),
// valid for every provider (at most 32 characters).
func NewOutTradeNo(now time.Time) string {
	return "SIM" + now.UTC().Format("20060102150405") + UniqueDigits(6)
}

// uniqueSeq feeds UniqueDigits; it starts at a random point so that two
// processes (a simulator and a load tool) rarely walk the same numbers.
var uniqueSeq atomic.Uint64

func init() { uniqueSeq.Store(rand.Uint64()) }

// UniqueDigits returns n decimal digits that no other call of this process
// returns until 10^n more have been made (n at most 19). An id made of a
// second-resolution time and random digits is not unique: seven random
// digits collide among a thousand ids made in one second one time in
// twenty (the birthday bound), and the fault harness, which prepares
// thousands of notifications at once, then saw one WeChat notification
// acknowledged as a duplicate of another it had never met.
func UniqueDigits(n int) string {
	if n < 1 || n > 19 {
		panic("sandbox.UniqueDigits: n must be 1..19")
	}
	mod := uint64(1)
	for range n {
		mod *= 10
	}
	v := uniqueSeq.Add(1) % mod
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}

// RandDigits returns n random decimal digits. Ids only need to be unique in
// a test run, not unpredictable: math/rand is enough.
func RandDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rand.IntN(10))
	}
	return string(b)
}

// OrderBook is the sandbox's memory of orders, keyed by provider and
// out_trade_no. It is safe for concurrent use. It holds at most a fixed
// number of orders and forgets the oldest first, so a long-running sandbox
// does not grow without bound.
type OrderBook struct {
	mu     sync.RWMutex
	orders map[bookKey]Order
	order  []bookKey // insertion order, oldest first
	max    int
}

type bookKey struct{ provider, outTradeNo string }

// DefaultBookSize is how many orders a NewOrderBook keeps.
const DefaultBookSize = 10000

// NewOrderBook returns an empty book holding up to DefaultBookSize orders.
func NewOrderBook() *OrderBook {
	return &OrderBook{orders: map[bookKey]Order{}, max: DefaultBookSize}
}

// Put stores o, replacing an order with the same provider and out_trade_no
// (re-registering an order updates what the sandbox answers).
func (b *OrderBook) Put(o Order) {
	k := bookKey{o.Provider, o.OutTradeNo}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.orders[k]; !ok {
		for len(b.order) >= b.max {
			delete(b.orders, b.order[0])
			b.order = b.order[1:]
		}
		b.order = append(b.order, k)
	}
	b.orders[k] = o
}

// Get returns the order with that provider and out_trade_no.
func (b *OrderBook) Get(provider, outTradeNo string) (Order, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	o, ok := b.orders[bookKey{provider, outTradeNo}]
	return o, ok
}

// FindTransaction returns the provider's order with that transaction id
// (queries by the provider's own number).
func (b *OrderBook) FindTransaction(provider, transactionID string) (Order, bool) {
	return b.Find(provider, func(o Order) bool { return transactionID != "" && o.TransactionID == transactionID })
}

// FindEvent returns the provider's order whose notification has that
// event id (queries that retrieve an event).
func (b *OrderBook) FindEvent(provider, eventID string) (Order, bool) {
	return b.Find(provider, func(o Order) bool { return eventID != "" && o.EventID == eventID })
}

// Find returns the first of the provider's orders that match.
func (b *OrderBook) Find(provider string, match func(Order) bool) (Order, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, k := range b.order {
		if o := b.orders[k]; k.provider == provider && match(o) {
			return o, true
		}
	}
	return Order{}, false
}

// List returns every order, oldest first.
func (b *OrderBook) List() []Order {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]Order, 0, len(b.order))
	for _, k := range b.order {
		out = append(out, b.orders[k])
	}
	return out
}

// Len is the number of orders held.
func (b *OrderBook) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.orders)
}

// Destruct lets a book live in a caddy.UsagePool (it holds no resources).
func (b *OrderBook) Destruct() error { return nil }

// ErrNoKeys is returned by a provider's Load when the key directory holds
// none of its files: that provider is then not simulated.
var ErrNoKeys = errors.New("no key files for this provider")

// TamperedValue returns a plausible, different value for a field: what an
// attacker would write (a smaller amount, a success status, another id).
// Providers handle their own special fields first and fall back to this.
func TamperedValue(field, v string) string {
	switch field {
	case "total_amount", "total_fee", "amount", "txnAmt", "price":
		if v == "0.01" || v == "1" {
			return v + "0"
		}
		if strings.Contains(v, ".") {
			return "0.01"
		}
		return "1"
	case "trade_status":
		if v == "TRADE_SUCCESS" {
			return "TRADE_FINISHED"
		}
		return "TRADE_SUCCESS"
	case "result_code", "trade_state", "return_code":
		if v == "SUCCESS" {
			return "FAIL"
		}
		return "SUCCESS"
	}
	// Identifiers: change the last character, keeping the shape.
	if v == "" {
		return "X"
	}
	last := v[len(v)-1]
	switch {
	case last >= '0' && last < '9':
		last++
	case last == '9':
		last = '0'
	case last == 'X':
		last = 'Y'
	default:
		last = 'X'
	}
	return v[:len(v)-1] + string(last)
}
