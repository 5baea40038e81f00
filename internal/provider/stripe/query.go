package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// DefaultEndpoint is Stripe's API. There is no separate sandbox host: a
// test-mode key (sk_test_) selects test mode.
const DefaultEndpoint = "https://api.stripe.com"

// API paths below the endpoint.
const (
	eventsPath = "/v1/events/"
	searchPath = "/v1/payment_intents/search"
)

// QueryConfig configures the reverse query.
type QueryConfig struct {
	// APIKey is a secret (sk_) or restricted (rk_) key that may read
	// events and PaymentIntents.
	APIKey []byte
	// Endpoint is the API base URL; DefaultEndpoint when empty.
	Endpoint string
	// HTTPClient makes every call; provider.NewHTTPClient's policy when
	// nil (no redirects, bounded time and answer).
	HTTPClient *http.Client
}

// QueryClient confirms notifications by retrieving their event from
// Stripe, and looks orders up by number with the PaymentIntents search.
// It is safe for concurrent use.
type QueryClient struct {
	auth     string // "Bearer <key>"; never logged
	live     bool
	endpoint string
	client   *http.Client
}

var (
	_ provider.Querier      = (*QueryClient)(nil)
	_ provider.OrderQuerier = (*QueryClient)(nil)
)

// NewQueryClient checks cfg. Errors never quote the key.
func NewQueryClient(cfg QueryConfig) (*QueryClient, error) {
	if err := CheckAPIKey(cfg.APIKey); err != nil {
		return nil, fmt.Errorf("api_key: %v", err)
	}
	ep, err := checkEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	c := &QueryClient{
		auth:     "Bearer " + string(cfg.APIKey),
		live:     strings.Contains(string(cfg.APIKey), "_live_"),
		endpoint: ep,
		client:   cfg.HTTPClient,
	}
	if c.client == nil {
		c.client = provider.NewHTTPClient(0)
	}
	return c, nil
}

// checkEndpoint accepts an http(s) base URL without query, fragment or
// credentials, and drops a trailing slash.
func checkEndpoint(ep string) (string, error) {
	if ep == "" {
		return DefaultEndpoint, nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("query endpoint %s must be an http(s) base URL without query or credentials", quote(ep))
	}
	return strings.TrimRight(ep, "/"), nil
}

// Live reports whether the key is a live-mode key.
func (c *QueryClient) Live() bool { return c.live }

// Endpoint is the API base URL in use.
func (c *QueryClient) Endpoint() string { return c.endpoint }

// QueryOrder implements provider.Querier: GET /v1/events/{id} retrieves
// the event the notification claims to be, and the event Stripe holds must
// say the same: the same type, order number, transaction, amount,
// currency, status, refund and account. A shop that would retrieve the
// event before processing it (Stripe's advice for thin or untrusted
// payloads) gets that check here.
//
// Errors: query_mismatch when Stripe, answering 404 resource_missing, has
// no such event, when it holds a different one, or when the event is of
// the other mode than the key; query_unavailable for everything a retry
// may fix (transport error, timeout, redirect, 401 from a revoked key,
// 429, 5xx, an answer payguard cannot read).
func (c *QueryClient) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if n == nil || !validID(n.EventID, "evt_") {
		return nil, reason.New(reason.QueryMismatch, "notification has no Stripe event id to retrieve")
	}
	if live, ok := n.Fields()["livemode"].(bool); ok && live != c.live {
		return nil, reason.New(reason.QueryMismatch, "a %s event, queried with a %s key", mode(live), mode(c.live))
	}
	h := http.Header{}
	if n.Merchant != "" {
		h.Set("Stripe-Account", n.Merchant) // a connected account's event
	}
	if v, _ := n.Fields()["api_version"].(string); apiVersionRE.MatchString(v) {
		// Render the retrieved snapshot in the payload's version, so that
		// both carry the same fields.
		h.Set("Stripe-Version", v)
	}
	body, err := c.get(ctx, eventsPath+n.EventID, nil, h)
	if err != nil {
		return nil, err
	}
	ev, derr := strictjson.DecodeObject(body)
	if derr != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, derr, "Stripe's event")
	}
	got, derr := normalize(ev)
	if derr != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, derr, "Stripe's event")
	}
	if live, _ := ev["livemode"].(bool); live != c.live {
		return nil, reason.New(reason.QueryMismatch, "Stripe answered with a %s event for a %s key", mode(live), mode(c.live))
	}
	if err := sameEvent(n, got); err != nil {
		return nil, err
	}
	return &provider.QueryResult{
		Status: got.Status, Amount: got.Amount, Currency: got.Currency,
		OutTradeNo: got.OutTradeNo, TransactionID: got.TransactionID,
		Merchant: got.Merchant, Raw: ev,
	}, nil
}

// apiVersionRE is the shape of Stripe's API versions ("2024-06-20",
// "2025-03-31.basil").
var apiVersionRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}(\.[a-z]+)?$`)

func mode(live bool) string {
	if live {
		return "live-mode"
	}
	return "test-mode"
}

// sameEvent compares what the notification says with the event Stripe
// holds under its id. The refund id is compared only when both carry one:
// whether a charge's snapshot lists its refunds depends on the API version
// it was rendered in.
func sameEvent(n, got *notification.Notification) error {
	type field struct {
		name      string
		says, has any
	}
	for _, f := range []field{
		{"id", n.EventID, got.EventID},
		{"type", n.Type, got.Type},
		{"account", n.Merchant, got.Merchant},
		{"out_trade_no", n.OutTradeNo, got.OutTradeNo},
		{"transaction_id", n.TransactionID, got.TransactionID},
		{"status", n.Status, got.Status},
		{"amount", n.Amount, got.Amount},
		{"currency", n.Currency, got.Currency},
		{"refund_amount", n.RefundAmount, got.RefundAmount},
	} {
		if f.says != f.has {
			return reason.New(reason.QueryMismatch, "%s: notification says %v, Stripe's event says %v", f.name, f.says, f.has)
		}
	}
	if n.RefundID != "" && got.RefundID != "" && n.RefundID != got.RefundID {
		return reason.New(reason.QueryMismatch, "refund_id: notification says %s, Stripe's event says %s", n.RefundID, got.RefundID)
	}
	return nil
}

// maxSearchResults is the page size of the search (Stripe's maximum).
const maxSearchResults = 100

// QueryByOrderNo implements provider.OrderQuerier for lost-callback
// recovery: the PaymentIntents search API, on metadata['out_trade_no'] or
// metadata['order_id'] (the keys a notification's order number is read
// from). Of the PaymentIntents whose metadata names exactly this order, a
// succeeded one is the payment (paid, amount_received); otherwise one still
// in progress means pending; all canceled is closed. Stripe's search index
// trails writes by up to a minute: a payment made seconds ago may not be
// found yet.
//
// Errors: query_mismatch when no PaymentIntent names the order (or the
// order number cannot be searched for); query_unavailable as for
// QueryOrder.
func (c *QueryClient) QueryByOrderNo(ctx context.Context, outTradeNo string) (*provider.QueryResult, error) {
	q, err := SearchQuery(outTradeNo)
	if err != nil {
		return nil, reason.Wrap(reason.QueryMismatch, err, "")
	}
	body, rerr := c.get(ctx, searchPath, url.Values{"query": {q}, "limit": {fmt.Sprint(maxSearchResults)}}, nil)
	if rerr != nil {
		return nil, rerr
	}
	m, derr := strictjson.DecodeObject(body)
	if derr != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, derr, "Stripe's search answer")
	}
	if o, _ := str(m, "object"); o != "search_result" {
		return nil, reason.New(reason.QueryUnavailable, "Stripe's search answer is not a search_result")
	}
	data, ok := m["data"].([]any)
	if !ok {
		return nil, reason.New(reason.QueryUnavailable, "Stripe's search answer has no data list")
	}
	var best *provider.QueryResult
	for _, item := range data {
		pi, ok := item.(map[string]any)
		if !ok {
			return nil, reason.New(reason.QueryUnavailable, "Stripe's search answer holds a non-object")
		}
		r, err := c.searchHit(pi, outTradeNo)
		if err != nil {
			return nil, reason.Wrap(reason.QueryUnavailable, err, "Stripe's search answer")
		}
		if r != nil && (best == nil || rank(r.Status) > rank(best.Status)) {
			best = r
		}
	}
	if best == nil {
		return nil, reason.New(reason.QueryMismatch, "Stripe has no PaymentIntent for order %s", quote(outTradeNo))
	}
	return best, nil
}

// rank orders a search's PaymentIntents: a payment beats one in progress,
// which beats a canceled one.
func rank(s notification.Status) int {
	switch s {
	case notification.StatusPaid:
		return 3
	case notification.StatusPending:
		return 2
	}
	return 1
}

// searchHit reads one PaymentIntent of a search answer; nil when it is not
// about outTradeNo (search matches are not trusted to be exact) or of the
// other mode.
func (c *QueryClient) searchHit(pi map[string]any, outTradeNo string) (*provider.QueryResult, error) {
	if kind, _ := str(pi, "object"); kind != kindPaymentIntent {
		return nil, errors.New("a search hit is not a payment_intent")
	}
	if live, _ := pi["livemode"].(bool); live != c.live {
		return nil, nil
	}
	no, err := orderNumber(pi, true)
	if err != nil || no != outTradeNo {
		return nil, err
	}
	st, err := str(pi, "status")
	if err != nil {
		return nil, err
	}
	n := &notification.Notification{Status: notification.StatusPending}
	switch st {
	case "succeeded":
		n.Status = notification.StatusPaid
	case "canceled":
		n.Status = notification.StatusClosed
	case "processing", "requires_payment_method", "requires_confirmation", "requires_action", "requires_capture":
	default:
		return nil, fmt.Errorf("PaymentIntent status %s", quote(st))
	}
	if err := ids(n, pi, "", "pi_"); err != nil {
		return nil, err
	}
	key := "amount"
	if n.Status == notification.StatusPaid {
		key = "amount_received"
	}
	if err := money(n, pi, key, true); err != nil {
		return nil, err
	}
	return &provider.QueryResult{
		Status: n.Status, Amount: n.Amount, Currency: n.Currency,
		OutTradeNo: outTradeNo, TransactionID: n.TransactionID, Raw: pi,
	}, nil
}

// SearchQuery is the search expression for an order number. The number is
// quoted with Stripe's only escape (a backslash before a quote); a
// backslash or a control character cannot be quoted safely and is
// refused, so no order number can widen the search.
func SearchQuery(outTradeNo string) (string, error) {
	if outTradeNo == "" || len(outTradeNo) > maxOrderNoLen {
		return "", errors.New("order number is empty or too long to search for")
	}
	for i := 0; i < len(outTradeNo); i++ {
		if c := outTradeNo[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", errors.New("order number holds a backslash or a control character")
		}
	}
	v := "'" + strings.ReplaceAll(outTradeNo, "'", `\'`) + "'"
	return "metadata['out_trade_no']:" + v + " OR metadata['order_id']:" + v, nil
}

// get performs one authenticated GET and returns a 200 answer's body.
func (c *QueryClient) get(ctx context.Context, path string, query url.Values, h http.Header) ([]byte, *reason.Error) {
	u := c.endpoint + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, reason.New(reason.QueryUnavailable, "cannot build the Stripe request")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "payguard")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "Stripe query")
	}
	defer resp.Body.Close()
	body, err := provider.ReadLimited(resp, provider.MaxAnswer)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "reading Stripe's answer")
	}
	if len(body) > provider.MaxAnswer {
		return nil, reason.Wrap(reason.QueryUnavailable, provider.ErrAnswerTooLarge, "reading Stripe's answer")
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound && errorCode(body) == "resource_missing":
		return nil, reason.New(reason.QueryMismatch, "Stripe has no such object (404 resource_missing)")
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, reason.Wrap(reason.QueryUnavailable, provider.ErrRedirect, fmt.Sprintf("Stripe answered HTTP %d", resp.StatusCode))
	}
	return nil, reason.New(reason.QueryUnavailable, "Stripe answered HTTP %d %s", resp.StatusCode, errorCode(body))
}

// errorCode is error.code of a Stripe error answer ("" when there is none
// or it is not a plain word).
func errorCode(body []byte) string {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return ""
	}
	e, _ := obj(m, "error")
	code, _ := str(e, "code")
	if !validType(code) {
		return ""
	}
	return code
}
