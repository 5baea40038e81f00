// Package sim is payguard's provider simulator (DESIGN.md section 8): it
// signs notifications exactly as each payment provider signs them, with
// sandbox keys, and serves each provider's reverse-query API from an order
// book, so the whole pipeline (signature, replay, query, forward) runs
// locally without a provider account.
//
// Each provider plugs in through the Provider interface: it builds a
// notification for an Order, knows which fields can be tampered with after
// signing, and mounts its query API on the sandbox's mux. The signing
// itself always goes through the provider package's own signer
// (alipay.Signer, wechatpay.V3Signer, wechatpay.V2Signer), so the
// simulator never has a second, possibly diverging, copy of a signature
// scheme.
//
// Nothing here knows Caddy: caddymodule wraps Server as the payguard_sim
// handler and the `payguard sim` subcommands call Notify and WriteKeys.
//
// The sandbox is a test tool. Anyone who can reach its control API can
// register orders and so make its query API confirm them: it must only
// ever listen where payguard's tests and the operator's own machine can
// reach it.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/payguard/payguard/internal/notification"
)

// Provider is one simulated payment provider.
type Provider interface {
	// Name is the provider name as payguard configures it ("alipay").
	Name() string
	// Prepare checks o and fills what the provider would have assigned
	// (transaction id, event id, buyer, payment time, merchant ids, status
	// word) in the provider's own shapes. It is idempotent: an order that
	// was prepared once (by the CLI) is left as it is when the sandbox
	// prepares it again on registration. Amounts are canonicalized to two
	// decimals.
	Prepare(o *Order, now time.Time) error
	// BuildNotify returns the notification for o, signed exactly as the
	// provider signs it at now. tamper names a field (one of Tamperable)
	// to alter after signing; "" sends the genuine notification. Building
	// twice gives differently signed messages (fresh nonces): a replay must
	// resend the same Message.
	BuildNotify(o *Order, tamper string, now time.Time) (*Message, error)
	// Tamperable lists the fields BuildNotify's tamper accepts.
	Tamperable() []string
	// Endpoint is the query endpoint payguard's `query { endpoint ... }`
	// must name when the sandbox is served at base ("http://host:port").
	Endpoint(base string) string
	// Mount registers the provider's query API on mux (paths under
	// "/<prefix>/", see Endpoint), answering from book.
	Mount(mux *http.ServeMux, book *OrderBook)
}

// Message is a notification as it goes on the wire.
type Message struct {
	Method string
	Header http.Header
	Body   []byte
}

// Order is what the simulated provider knows about one order. JSON is the
// control API's format (POST /_sim/orders).
type Order struct {
	// Provider is the provider name ("alipay", "wechatpay_v3", ...).
	Provider string `json:"provider"`
	// OutTradeNo is the merchant's order number.
	OutTradeNo string `json:"out_trade_no"`
	// TransactionID is the provider's number (Alipay trade_no, WeChat
	// transaction_id); Prepare assigns one.
	TransactionID string `json:"transaction_id,omitempty"`
	// EventID is the notification's stable id (Alipay notify_id, WeChat v3
	// envelope id); Prepare assigns one. WeChat v2 has none of its own (its
	// event id is the transaction id).
	EventID string `json:"event_id,omitempty"`
	// AppID is the merchant app (Alipay app_id, WeChat appid).
	AppID string `json:"app_id,omitempty"`
	// MchID is the WeChat merchant number; unused by Alipay.
	MchID string `json:"mch_id,omitempty"`
	// Amount is the order amount in yuan, a plain decimal ("12.34"), as
	// Alipay writes it; WeChat providers convert it to fen. CNY only.
	Amount string `json:"amount"`
	// Status is the provider's own status word (Alipay TRADE_SUCCESS,
	// WeChat SUCCESS); Prepare defaults it to the paid word.
	Status string `json:"status,omitempty"`
	// QueryAmount is what the query API answers as the amount; default
	// Amount. Setting it makes the sandbox disagree with the notification.
	QueryAmount string `json:"query_amount,omitempty"`
	// QueryStatus is what the query API answers as the status; default
	// Status (a forged "paid" notification for an unpaid order).
	QueryStatus string `json:"query_status,omitempty"`
	// Buyer is the payer's id (Alipay buyer_id, WeChat openid).
	Buyer string `json:"buyer,omitempty"`
	// PaidAt is when the buyer paid; Prepare sets it for paid orders.
	PaidAt time.Time `json:"paid_at,omitzero"`
}

// maxOutTradeNo is Alipay's limit; WeChat's (32) is checked by its
// providers.
const maxOutTradeNo = 64

// checkCommon checks what every provider requires of an order and
// canonicalizes the amounts (two decimals, as both providers write yuan).
func checkCommon(o *Order, provider string) error {
	if o.Provider != provider {
		return fmt.Errorf("order is for provider %q, not %s", o.Provider, provider)
	}
	if err := checkToken("out_trade_no", o.OutTradeNo, maxOutTradeNo); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"transaction_id", o.TransactionID}, {"event_id", o.EventID},
		{"app_id", o.AppID}, {"mch_id", o.MchID}, {"buyer", o.Buyer},
	} {
		if f.v != "" {
			if err := checkToken(f.name, f.v, 64); err != nil {
				return err
			}
		}
	}
	a, err := canonicalAmount(o.Amount)
	if err != nil {
		return fmt.Errorf("amount: %v", err)
	}
	if a == "0.00" {
		return errors.New("amount: must be at least 0.01")
	}
	o.Amount = a
	if o.QueryAmount == "" {
		o.QueryAmount = o.Amount
	} else if o.QueryAmount, err = canonicalAmount(o.QueryAmount); err != nil {
		return fmt.Errorf("query_amount: %v", err)
	}
	return nil
}

// canonicalAmount parses a yuan amount exactly (no floats) and writes it
// back with two decimals: "12.3" is "12.30".
func canonicalAmount(s string) (string, error) {
	minor, err := notification.ParseDecimal(s, 2)
	if err != nil {
		return "", fmt.Errorf("%q is not a plain decimal with at most 2 decimals", clip(s))
	}
	// Alipay's upper bound; it also keeps fen far inside int64 for WeChat.
	if minor > 100_000_000_00 {
		return "", errors.New("more than 100000000.00")
	}
	return notification.FormatDecimal(minor, 2), nil
}

// fen converts a canonical yuan amount to fen.
func fen(yuan string) int64 {
	v, _ := notification.ParseDecimal(yuan, 2) // canonical: cannot fail
	return v
}

// checkToken keeps ids to the characters the providers allow in order
// numbers (letters, digits, _ - . | *), so a value never needs escaping in
// a form, an XML element, a URL path or a Caddyfile, and cannot smuggle a
// second parameter into a signed string.
func checkToken(name, v string, max int) error {
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
			return fmt.Errorf("%s %q holds a character other than letters, digits and _-.|*", name, clip(v))
		}
	}
	return nil
}

// checkStatus checks a status word against a provider's list.
func checkStatus(field, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s %q is not one of %s", field, clip(v), strings.Join(allowed, ", "))
}

// clip shortens untrusted text for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// NewOutTradeNo returns a fresh merchant order number, "SIM" + the time +
// random digits, unique enough for a test run and valid for every provider
// (at most 32 characters).
func NewOutTradeNo(now time.Time) string {
	return "SIM" + now.UTC().Format("20060102150405") + randDigits(6)
}

// randDigits returns n random decimal digits. Ids only need to be unique
// in a test run, not unpredictable: math/rand is enough.
func randDigits(n int) string {
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
// (queries by trade_no / transaction_id).
func (b *OrderBook) FindTransaction(provider, transactionID string) (Order, bool) {
	if transactionID == "" {
		return Order{}, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for k, o := range b.orders {
		if k.provider == provider && o.TransactionID == transactionID {
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

// checkTamper reports an unknown tamper field with the accepted list.
func checkTamper(p Provider, tamper string) error {
	if tamper == "" {
		return nil
	}
	for _, f := range p.Tamperable() {
		if f == tamper {
			return nil
		}
	}
	fields := append([]string(nil), p.Tamperable()...)
	sort.Strings(fields)
	return fmt.Errorf("%s: cannot tamper with %q; one of: %s", p.Name(), clip(tamper), strings.Join(fields, ", "))
}

// TamperFields lists, per provider name, the fields BuildNotify's tamper
// accepts, without needing keys (for help texts).
func TamperFields() map[string][]string {
	return map[string][]string{
		"alipay":       append([]string(nil), alipayTamperable...),
		"wechatpay_v3": append([]string(nil), v3Tamperable...),
		"wechatpay_v2": append([]string(nil), v2Tamperable...),
	}
}

// settleStatus defaults the order's status (and what the query API will
// answer) to the provider's paid word, checks both against the provider's
// words, and stamps a paid order with the time the buyer paid.
func settleStatus(o *Order, now time.Time, paidWord string, allowed []string, isPaid func(string) bool) error {
	if o.Status == "" {
		o.Status = paidWord
	}
	if err := checkStatus("status", o.Status, allowed); err != nil {
		return err
	}
	if o.QueryStatus == "" {
		o.QueryStatus = o.Status
	}
	if err := checkStatus("query_status", o.QueryStatus, allowed); err != nil {
		return err
	}
	if o.PaidAt.IsZero() && isPaid(o.Status) {
		o.PaidAt = now.Add(-2 * time.Second).Truncate(time.Second)
	}
	return nil
}
