package pingpp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// DefaultEndpoint is Ping++'s API base; the charge is at
// /v1/charges/{ch_id} below it.
const DefaultEndpoint = "https://api.pingxx.com"

var errPrivateKeyAlone = errors.New("private_key signs queries and needs api_key")

// QueryConfig configures the charge query.
type QueryConfig struct {
	// APIKey is the secret key (sk_live_...), sent as the HTTP Basic user.
	APIKey []byte
	// PrivateKey, when set, signs each request (Pingplusplus-Signature
	// over body + request URI + timestamp), as the dashboard's request
	// signing demands once it is switched on.
	PrivateKey *rsa.PrivateKey
	// Endpoint is the API base, DefaultEndpoint when empty.
	Endpoint string
	// HTTPClient is the outgoing client (provider.NewHTTPClient's policy).
	HTTPClient *http.Client
	// Now stamps signed requests; time.Now when nil.
	Now func() time.Time
}

// Querier retrieves a notification's charge from Ping++. Ping++'s answers
// are unsigned: they are trusted as the TLS connection to the configured
// endpoint is.
type Querier struct {
	apiKey   string
	priv     *rsa.PrivateKey
	endpoint string
	client   *http.Client
	now      func() time.Time
}

var _ provider.Querier = (*Querier)(nil)

// NewQuerier checks cfg.
func NewQuerier(cfg QueryConfig) (*Querier, error) {
	if len(cfg.APIKey) == 0 {
		return nil, errors.New("pingpp: api_key is required for the query")
	}
	if strings.ContainsAny(string(cfg.APIKey), ": \t\r\n") {
		return nil, errors.New("pingpp: api_key holds a colon or whitespace (a trailing newline in the file?)")
	}
	q := &Querier{apiKey: string(cfg.APIKey), priv: cfg.PrivateKey, endpoint: cfg.Endpoint, client: cfg.HTTPClient, now: cfg.Now}
	if q.endpoint == "" {
		q.endpoint = DefaultEndpoint
	}
	u, err := url.Parse(q.endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("pingpp: query endpoint must be an http(s) URL without query or fragment")
	}
	q.endpoint = strings.TrimSuffix(q.endpoint, "/")
	if q.client == nil {
		q.client = provider.NewHTTPClient(0)
	}
	if q.now == nil {
		q.now = time.Now
	}
	return q, nil
}

// QueryOrder implements provider.Querier: GET /v1/charges/{ch_id} for a
// payment or refund notice (others are provider.ErrNotQueryable). The
// charge reports paid as long as it was paid (refunds do not unset it),
// so both a late payment notice and a refund notice are confirmed by it;
// a refund notice must also be covered by the charge's amount_refunded.
func (q *Querier) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if n.Status != notification.StatusPaid && n.Status != notification.StatusRefunded {
		// transfer.succeeded, summary.daily.available, ...: no charge to
		// confirm; the pipeline passes them with Payguard-Query: skipped.
		return nil, provider.ErrNotQueryable
	}
	if !strings.HasPrefix(n.TransactionID, "ch_") || !isToken(n.TransactionID) {
		return nil, reason.New(reason.QueryMismatch, "pingpp: no charge id to query")
	}
	c, err := q.retrieve(ctx, n.TransactionID)
	if err != nil {
		return nil, err
	}
	if n.Status == notification.StatusRefunded && c.amountRefunded < n.RefundAmount {
		return nil, reason.New(reason.QueryMismatch, "pingpp: the charge shows %d refunded, the notice %d", c.amountRefunded, n.RefundAmount)
	}
	return c.result, nil
}

// charge is what the query reads of a Charge.
type charge struct {
	result         *provider.QueryResult
	amountRefunded int64
}

func (q *Querier) retrieve(ctx context.Context, chargeID string) (*charge, error) {
	u := q.endpoint + "/v1/charges/" + url.PathEscape(chargeID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "pingpp query")
	}
	req.SetBasicAuth(q.apiKey, "")
	req.Header.Set("Accept", "application/json")
	if q.priv != nil {
		if err := q.sign(req); err != nil {
			return nil, reason.Wrap(reason.QueryUnavailable, err, "pingpp query signature")
		}
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "pingpp query")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "pingpp query answer")
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, reason.New(reason.QueryMismatch, "pingpp: Ping++ knows no charge %s", chargeID)
	case resp.StatusCode != http.StatusOK:
		// 401/403 is our configuration (key, signing), 5xx theirs: either
		// way a retry may succeed once fixed, so nothing is acknowledged.
		return nil, reason.New(reason.QueryUnavailable, "pingpp: query answered HTTP %d", resp.StatusCode)
	}
	return parseCharge(body, chargeID)
}

// sign adds Ping++'s request signature: RSA-SHA256 over body + request
// URI + timestamp (a GET has no body) [pingpp-go apiBackend.go].
func (q *Querier) sign(req *http.Request) error {
	ts := strconv.FormatInt(q.now().Unix(), 10)
	digest := sha256.Sum256([]byte(req.URL.RequestURI() + ts))
	sig, err := rsa.SignPKCS1v15(rand.Reader, q.priv, crypto.SHA256, digest[:])
	if err != nil {
		return err
	}
	req.Header.Set("Pingplusplus-Request-Timestamp", ts)
	req.Header.Set("Pingplusplus-Signature", base64.StdEncoding.EncodeToString(sig))
	return nil
}

// parseCharge reads the answer strictly; an answer that is not the asked
// charge is query_unavailable (a broken or misrouted answer, not the
// provider denying the order).
func parseCharge(body []byte, chargeID string) (*charge, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "pingpp query answer")
	}
	if obj, _ := m["object"].(string); obj != "charge" {
		return nil, reason.New(reason.QueryUnavailable, "pingpp: query answer is not a charge")
	}
	if id, _ := m["id"].(string); id != chargeID {
		return nil, reason.New(reason.QueryUnavailable, "pingpp: query answer is another charge")
	}
	amount, ok1 := strictjson.Int(m["amount"])
	refunded, ok2 := strictjson.Int(m["amount_refunded"])
	cur, _ := m["currency"].(string)
	orderNo, _ := m["order_no"].(string)
	paid, ok3 := m["paid"].(bool)
	if !ok1 || !ok3 || !isCurrency(cur) || orderNo == "" {
		return nil, reason.New(reason.QueryUnavailable, "pingpp: query answer lacks paid, amount, currency or order_no")
	}
	if !ok2 {
		refunded = 0
	}
	res := &provider.QueryResult{
		Status: notification.StatusPending, Amount: amount, Currency: strings.ToUpper(cur),
		OutTradeNo: orderNo, TransactionID: chargeID, Raw: m,
	}
	if paid {
		res.Status = notification.StatusPaid
	}
	res.Merchant, _ = m["app"].(string)
	return &charge{result: res, amountRefunded: refunded}, nil
}

// String keeps the key out of any accidental %v.
func (q *Querier) String() string { return fmt.Sprintf("pingpp.Querier{%s}", q.endpoint) }
