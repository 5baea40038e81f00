package wechatpay

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// maxResponseBody caps what a query answer may hold. WeChat's answers are a
// few KiB; anything bigger is not an order and is not read on.
const maxResponseBody = 1 << 20

// defaultHTTPTimeout bounds a query when the caller gave neither an
// HTTPClient nor a context deadline. The pipeline normally passes a context
// with the route's query timeout (3s by default), which wins when shorter.
const defaultHTTPTimeout = 10 * time.Second

// defaultHTTPClient is used when the configuration gives none: the one
// outgoing client policy of every provider (no redirects: a signed query
// is answered by the API host or not at all).
func defaultHTTPClient() *http.Client {
	return provider.NewHTTPClient(defaultHTTPTimeout)
}

// checkEndpoint validates an operator-supplied query endpoint once, at New.
func checkEndpoint(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: not a URL", name)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%s: scheme must be https (or http for a local simulator), got %q", name, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("%s: no host", name)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: must not carry a query or fragment", name)
	}
	return nil
}

// send makes a query call, with payguard's User-Agent: a transport error
// or an unreadable answer is query_unavailable; the body is read within
// maxResponseBody.
func send(client *http.Client, req *http.Request) (*http.Response, []byte, error) {
	req.Header.Set("User-Agent", "payguard")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, reason.Wrap(reason.QueryUnavailable, err, "query")
	}
	defer resp.Body.Close()
	body, err := readLimited(resp)
	if err != nil {
		return nil, nil, reason.Wrap(reason.QueryUnavailable, err, "reading query answer")
	}
	return resp, body, nil
}

// readLimited reads at most maxResponseBody bytes of resp's body; more is an error,
// never a silently truncated body whose signature would then fail for a
// confusing reason.
func readLimited(resp *http.Response) ([]byte, error) {
	b, err := provider.ReadLimited(resp, maxResponseBody)
	if err != nil {
		return nil, err
	}
	if len(b) > maxResponseBody {
		return nil, errors.New("answer larger than 1 MiB")
	}
	return b, nil
}

// nonceAlphabet is what WeChat's SDKs draw nonce_str from.
const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomNonce returns n characters of nonceAlphabet from crypto/rand.
func randomNonce(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	for i := range b {
		// 256 % 36 != 0 gives a slight bias; a nonce needs uniqueness,
		// not uniformity, and 32 characters leave ~165 bits either way.
		b[i] = nonceAlphabet[int(b[i])%len(nonceAlphabet)]
	}
	return string(b)
}

// parseUint parses a non-negative decimal integer without sign, spaces,
// leading zeros or exponent, as WeChat writes fen amounts and unix seconds.
// strconv.ParseInt alone would accept "+5" and "-0".
func parseUint(s string) (int64, bool) {
	if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// beijing is the zone WeChat writes v2 times in (yyyyMMddHHmmss without an
// offset). A fixed zone, not time.LoadLocation: no tzdata needed at run time.
var beijing = time.FixedZone("CST", 8*3600)

// short cuts an untrusted string for an error detail, so a detail never
// carries more than a few dozen bytes of anything a peer sent.
func short(s string) string {
	const max = 48
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "…"
}

// confirmable reports whether the order query can speak to n: a payment's
// state, or a refund that went through (the trade then shows it). A refund
// that failed or closed, and events that are neither payments nor refunds
// (PAYSCORE, ...), leave the trade as it was: the query can confirm nothing
// about them (provider.ErrNotQueryable).
func confirmable(n *notification.Notification) bool {
	switch n.Status {
	case notification.StatusOther:
		return false
	case notification.StatusFailed:
		return !isRefund(n)
	}
	return true
}

// isRefund reports whether n is a refund notice: v3 event types REFUND.*,
// v2 types refund.* (v2RefundStatus).
func isRefund(n *notification.Notification) bool {
	return strings.HasPrefix(n.Type, "REFUND.") || strings.HasPrefix(n.Type, "refund.")
}
