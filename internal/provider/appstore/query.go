package appstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// The App Store Server API's bases (providers.md section 5).
const (
	ProductionAPI = "https://api.storekit.apple.com"
	SandboxAPI    = "https://api.storekit-sandbox.apple.com"
)

// transactionPath is Get Transaction Info: GET {base}/inApps/v1/transactions/{transactionId}.
const transactionPath = "/inApps/v1/transactions/"

// Apple's token rules: audience, and a lifetime of at most an hour (its
// libraries use five minutes).
const (
	tokenAudience = "appstoreconnect-v1"
	tokenLifetime = 5 * time.Minute
)

// errTransactionNotFound is Apple's TransactionIdNotFoundError.
const errTransactionNotFound = 4040010

// QueryConfig holds the App Store Connect API key of the operator (an
// In-App Purchase key: Users and Access, Integrations).
type QueryConfig struct {
	IssuerID   string
	KeyID      string
	PrivateKey *ecdsa.PrivateKey // the .p8 key, P-256
	// Endpoint is the API base; "" is Apple's for the environment.
	Endpoint   string
	HTTPClient *http.Client
	Now        func() time.Time
}

// Querier asks Get Transaction Info about a notification's transaction.
type Querier struct {
	v               verifier
	issuerID, keyID string
	key             *ecdsa.PrivateKey
	endpoint        string
	client          *http.Client
	now             func() time.Time
}

// NewQuerier checks q and returns the query client for the app cfg names.
func NewQuerier(cfg Config, q QueryConfig) (*Querier, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	if q.IssuerID == "" || q.KeyID == "" || q.PrivateKey == nil {
		return nil, errors.New("appstore: the query needs issuer_id, key_id and private_key")
	}
	if q.PrivateKey.Curve != elliptic.P256() {
		return nil, errors.New("appstore: private_key is not a P-256 key (an App Store Connect .p8 key is)")
	}
	endpoint := q.Endpoint
	if endpoint == "" {
		endpoint = ProductionAPI
		if cfg.Environment == EnvSandbox {
			endpoint = SandboxAPI
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, errors.New("appstore: query endpoint must be an http(s) base URL")
	}
	client, now := q.HTTPClient, q.Now
	if client == nil {
		client = provider.NewHTTPClient(0)
	}
	if now == nil {
		now = time.Now
	}
	return &Querier{
		v: v, issuerID: q.IssuerID, keyID: q.KeyID, key: q.PrivateKey,
		endpoint: strings.TrimRight(endpoint, "/"), client: client, now: now,
	}, nil
}

// QueryOrder implements provider.Querier with Get Transaction Info. The
// answer's signedTransactionInfo is verified like a notification's (chain,
// ES256, bundle id, environment) before anything in it is believed.
//
// Only payments and refunds are asked about: what the transaction says
// cannot confirm an expiry, a failed renewal or a test, so those are
// provider.ErrNotQueryable. Errors: query_mismatch when Apple says the
// transaction does not exist or answers about another one;
// query_unavailable for everything a retry may fix (transport, timeout,
// redirect, a status other than 200 and 404, an answer that does not
// verify).
func (q *Querier) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if n == nil || (n.Status != notification.StatusPaid && n.Status != notification.StatusRefunded) {
		return nil, provider.ErrNotQueryable
	}
	if n.TransactionID == "" {
		return nil, reason.New(reason.QueryMismatch, "notification has no transactionId to query")
	}
	body, status, err := q.get(ctx, n.TransactionID)
	if err != nil {
		return nil, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		if apiErrorCode(body) == errTransactionNotFound {
			return nil, reason.New(reason.QueryMismatch, "App Store: transaction %s not found", clip(n.TransactionID))
		}
		return nil, reason.New(reason.QueryUnavailable, "App Store answered HTTP 404")
	default:
		// 401 (a bad token), 429 (rate limit), 5xx: the notification is
		// retried, nothing is acknowledged.
		return nil, reason.New(reason.QueryUnavailable, "App Store answered HTTP %d", status)
	}
	return q.result(body, n.TransactionID)
}

func (q *Querier) get(ctx context.Context, transactionID string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.endpoint+transactionPath+url.PathEscape(transactionID), nil)
	if err != nil {
		return nil, 0, reason.New(reason.QueryUnavailable, "cannot build the query request")
	}
	token, err := q.token(q.now())
	if err != nil {
		return nil, 0, reason.Wrap(reason.QueryUnavailable, err, "signing the App Store Connect token")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "payguard")
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, 0, reason.Wrap(reason.QueryUnavailable, err, "query")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // the client caps the answer
	if err != nil {
		return nil, 0, reason.Wrap(reason.QueryUnavailable, err, "reading the query answer")
	}
	return body, resp.StatusCode, nil
}

// result reads a verified Get Transaction Info answer.
func (q *Querier) result(body []byte, asked string) (*provider.QueryResult, error) {
	unavailable := func(err error) error { return reason.Wrap(reason.QueryUnavailable, err, "query answer") }
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, unavailable(err)
	}
	signed, _, err := stringField(m, "signedTransactionInfo")
	if err != nil || signed == "" {
		return nil, unavailable(errors.New("no signedTransactionInfo"))
	}
	info, err := q.v.transaction(signed, q.now())
	if err != nil {
		return nil, unavailable(err)
	}
	t, err := readTransaction(info)
	if err != nil {
		return nil, unavailable(err)
	}
	if t.id != asked {
		return nil, reason.New(reason.QueryMismatch, "App Store answered about transaction %s, not %s", clip(t.id), clip(asked))
	}
	if !t.hasPrice {
		return nil, unavailable(errors.New("transaction states no price"))
	}
	amount, err := milliToMinor(t.price, t.currency)
	if err != nil {
		return nil, unavailable(err)
	}
	res := &provider.QueryResult{
		Status:        notification.StatusPaid,
		Amount:        amount,
		Currency:      t.currency,
		OutTradeNo:    t.outTradeNo(),
		TransactionID: t.id,
		Merchant:      t.bundleID,
		Raw:           info,
	}
	if t.revoked {
		res.Status = notification.StatusRefunded
	}
	return res, nil
}

// apiErrorCode reads Apple's {"errorCode": 4040010, ...}; 0 when absent.
func apiErrorCode(body []byte) int64 {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return 0
	}
	code, _, _ := intField(m, "errorCode")
	return code
}

// token is the App Store Server API's bearer token: an ES256 JWT from the
// operator's key (kid key_id, iss issuer_id, aud appstoreconnect-v1, bid
// the bundle id), valid five minutes.
func (q *Querier) token(now time.Time) (string, error) {
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{algES256, q.keyID, "JWT"})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(tokenClaims{
		Iss: q.issuerID, Iat: now.Unix(), Exp: now.Add(tokenLifetime).Unix(),
		Aud: tokenAudience, Bid: q.v.bundleID,
	})
	if err != nil {
		return "", err
	}
	tok, err := signES256(q.key, header, claims)
	if err != nil {
		return "", fmt.Errorf("token: %v", err)
	}
	return tok, nil
}

// tokenClaims are the App Store Server API token's claims.
type tokenClaims struct {
	Iss string `json:"iss"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
	Aud string `json:"aud"`
	Bid string `json:"bid"`
}
