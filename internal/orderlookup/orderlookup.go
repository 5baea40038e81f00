// Package orderlookup fetches the shop's own order record (DESIGN.md
// section 5, `order_lookup`): GET the configured URL with {out_trade_no}
// replaced, and read `{"amount":1234,"currency":"CNY","status":"unpaid"}`.
//
// 404 means the shop has no such order: reason.OrderMismatch. Anything
// else that is not a 200 with that JSON (unreachable, 5xx, slow, a
// redirect, an answer over 64 KiB or not JSON) is reason.QueryUnavailable,
// so the pipeline fails closed with a 503 and the provider retries.
package orderlookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Placeholder is what the URL must contain: the order number goes there,
// path-escaped.
const Placeholder = "{out_trade_no}"

// DefaultTimeout is order_timeout's default.
const DefaultTimeout = 3 * time.Second

// MaxAnswer is the most of the shop's answer that is read.
const MaxAnswer = 64 << 10

// Client implements pipeline.OrderLookup.
type Client struct {
	template string
	timeout  time.Duration
	http     *http.Client
}

// New checks the URL template: absolute http or https, with {out_trade_no}
// in it. timeout <= 0 is DefaultTimeout.
func New(template string, timeout time.Duration) (*Client, error) {
	if err := CheckURL(template); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// The one outgoing client policy (no redirects, trace context,
	// bounded answer), with the lookup's own timeout and smaller cap.
	return &Client{template: template, timeout: timeout, http: provider.NewHTTPClient(timeout)}, nil
}

// CheckURL reports why a template is not a usable order_lookup URL.
func CheckURL(template string) error {
	if !strings.Contains(template, Placeholder) {
		return fmt.Errorf("order_lookup %q has no %s", template, Placeholder)
	}
	u, err := url.Parse(strings.ReplaceAll(template, Placeholder, "x"))
	if err != nil {
		return fmt.Errorf("order_lookup %q is not a URL: %v", template, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("order_lookup %q must be an absolute http or https URL", template)
	}
	return nil
}

// CheckConfigured is CheckURL for a template as configured: one that
// holds other placeholders ({env.SHOP}) beside {out_trade_no} is only
// known, and checked whole, once they are resolved.
func CheckConfigured(template string) error {
	if strings.Contains(template, Placeholder) && strings.Contains(strings.ReplaceAll(template, Placeholder, ""), "{") {
		return nil
	}
	return CheckURL(template)
}

// URL is the lookup URL for one order: the order number path-escaped, so
// it can never add a path segment, a query or a host.
func (c *Client) URL(outTradeNo string) string {
	return strings.ReplaceAll(c.template, Placeholder, url.PathEscape(outTradeNo))
}

// LookupOrder implements pipeline.OrderLookup.
func (c *Client) LookupOrder(ctx context.Context, outTradeNo string) (*pipeline.Order, error) {
	if outTradeNo == "" {
		return nil, reason.New(reason.OrderMismatch, "the notification names no order, so the shop has none to show")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL(outTradeNo), nil)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "order lookup")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, provider.ErrRedirect) {
			return nil, reason.New(reason.QueryUnavailable, "order lookup: the shop answered with a redirect, which payguard never follows")
		}
		// net/http's errors repeat the URL, which may carry the shop's
		// access token in its query: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, reason.Wrap(reason.QueryUnavailable, err, "order lookup")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, reason.New(reason.OrderMismatch, "the shop has no order %q", outTradeNo)
	case resp.StatusCode != http.StatusOK:
		return nil, reason.New(reason.QueryUnavailable, "order lookup: the shop answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "order lookup: reading the answer")
	}
	if len(body) > MaxAnswer {
		return nil, reason.New(reason.QueryUnavailable, "order lookup: the answer is larger than %d bytes", MaxAnswer)
	}
	return parseOrder(body)
}

// answer is the shop's JSON; pointers tell a missing field from a zero.
type answer struct {
	Amount   *int64  `json:"amount"`
	Currency *string `json:"currency"`
	Status   *string `json:"status"`
}

// parseOrder reads the shop's answer. amount is required (an integer in
// minor units; 12.34 is refused, not rounded); currency and status may be
// absent.
func parseOrder(body []byte) (*pipeline.Order, error) {
	var a answer
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&a); err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "order lookup: the answer is not the order JSON")
	}
	if d.More() {
		return nil, reason.New(reason.QueryUnavailable, "order lookup: the answer has data after the JSON object")
	}
	if a.Amount == nil {
		return nil, reason.New(reason.QueryUnavailable, "order lookup: the answer has no amount")
	}
	o := &pipeline.Order{Amount: *a.Amount}
	if a.Currency != nil {
		o.Currency = *a.Currency
	}
	if a.Status != nil {
		o.Status = *a.Status
	}
	return o, nil
}

var _ pipeline.OrderLookup = (*Client)(nil)
