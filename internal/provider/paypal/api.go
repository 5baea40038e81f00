package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// API paths below api_base.
const (
	tokenPath    = "/v1/oauth2/token"
	verifyPath   = "/v1/notifications/verify-webhook-signature"
	capturesPath = "/v2/payments/captures/"
)

// DefaultAPIBase is PayPal's live REST API.
const DefaultAPIBase = "https://api-m.paypal.com"

// tokenSource holds one OAuth2 client-credentials token and refreshes it
// when it expires: one token request serves every notification until then,
// and concurrent callers of an expired token share one refresh.
type tokenSource struct {
	client   *http.Client
	url      string // api_base + tokenPath
	clientID string
	secret   []byte
	now      func() time.Time

	group   singleflight.Group
	mu      sync.Mutex
	token   string
	expires time.Time
}

// tokenMargin is how long before PayPal's expiry a token is replaced, so a
// request in flight does not carry a token that expires on the way.
const tokenMargin = time.Minute

// maxTokenLife caps how long a token is kept whatever expires_in says.
const maxTokenLife = 24 * time.Hour

// get returns a valid token, fetching one when none is cached.
func (s *tokenSource) get(ctx context.Context) (string, error) {
	if tok := s.valid(); tok != "" {
		return tok, nil
	}
	ch := s.group.DoChan("token", func() (any, error) {
		// A caller that found the token expired just before another's
		// refresh finished gets that token, not a second request.
		if tok := s.valid(); tok != "" {
			return tok, nil
		}
		return s.fetch(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", reason.Wrap(reason.QueryUnavailable, ctx.Err(), "paypal: OAuth token")
	}
}

// valid is the cached token, "" when there is none or it has expired.
func (s *tokenSource) valid() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expires) {
		return s.token
	}
	return ""
}

// drop forgets tok when PayPal refused it (revoked or expired early), so
// the next call fetches a fresh one.
func (s *tokenSource) drop(tok string) {
	s.mu.Lock()
	if s.token == tok {
		s.token = ""
	}
	s.mu.Unlock()
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *tokenSource) fetch(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(form))
	if err != nil {
		return "", reason.Wrap(reason.QueryUnavailable, err, "paypal: token request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(s.clientID, string(s.secret))
	var ans tokenAnswer
	if err := s.do(req, &ans); err != nil {
		return "", err
	}
	if !strings.EqualFold(ans.TokenType, "Bearer") || !printable(ans.AccessToken, 4096) {
		return "", reason.New(reason.QueryUnavailable, "paypal: token answer holds no bearer token")
	}
	now := s.now()
	life := min(time.Duration(ans.ExpiresIn)*time.Second, maxTokenLife)
	s.mu.Lock()
	s.token, s.expires = ans.AccessToken, now.Add(life-tokenMargin)
	s.mu.Unlock()
	return ans.AccessToken, nil
}

// do sends a token request and decodes a 200 answer. The error never holds
// the credentials or the token.
func (s *tokenSource) do(req *http.Request, into any) error {
	resp, err := s.client.Do(req)
	if err != nil {
		return reason.Wrap(reason.QueryUnavailable, err, "paypal: token request failed")
	}
	defer resp.Body.Close()
	body, err := readAnswer(resp)
	if err != nil {
		return reason.Wrap(reason.QueryUnavailable, err, "paypal: reading the token answer")
	}
	if resp.StatusCode != http.StatusOK {
		// 401 here means wrong client credentials: still retryable, the
		// operator can fix them while PayPal keeps retrying.
		return reason.New(reason.QueryUnavailable, "paypal: token request answered HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return reason.New(reason.QueryUnavailable, "paypal: token answer is not JSON")
	}
	return nil
}

// apiClient makes authenticated calls to PayPal's REST API.
type apiClient struct {
	client *http.Client
	tokens *tokenSource
}

// errTokenRefused is a 401 from an API call: the token is dropped and the
// call made once more with a fresh one.
var errTokenRefused = errors.New("token refused")

// call sends an authenticated request built by mk and returns the answer's
// status and body. A 401 is retried once with a fresh token. Transport
// errors, redirects and 5xx are query_unavailable.
func (c *apiClient) call(ctx context.Context, what string, mk func() (*http.Request, error)) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.get(ctx)
		if err != nil {
			return 0, nil, err
		}
		status, body, err := c.once(ctx, what, tok, mk)
		if errors.Is(err, errTokenRefused) && attempt == 0 {
			c.tokens.drop(tok)
			continue
		}
		return status, body, err
	}
}

func (c *apiClient) once(ctx context.Context, what, tok string, mk func() (*http.Request, error)) (int, []byte, error) {
	req, err := mk()
	if err != nil {
		return 0, nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: "+what)
	}
	req = req.WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: "+what+" failed")
	}
	defer resp.Body.Close()
	body, err := readAnswer(resp)
	switch {
	case err != nil:
		return 0, nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: reading the "+what+" answer")
	case resp.StatusCode == http.StatusUnauthorized:
		return 0, nil, reason.Wrap(reason.QueryUnavailable, errTokenRefused, "paypal: "+what+" refused the OAuth token")
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode < 200 || (resp.StatusCode >= 300 && resp.StatusCode < 400):
		return 0, nil, reason.New(reason.QueryUnavailable, "paypal: %s answered HTTP %d", what, resp.StatusCode)
	}
	return resp.StatusCode, body, nil
}

// verifyRequest is verify-webhook-signature's body without webhook_event,
// which is spliced in as the raw body's bytes (verifyBody).
type verifyRequest struct {
	AuthAlgo         string `json:"auth_algo"`
	CertURL          string `json:"cert_url"`
	TransmissionID   string `json:"transmission_id"`
	TransmissionSig  string `json:"transmission_sig"`
	TransmissionTime string `json:"transmission_time"`
	WebhookID        string `json:"webhook_id"`
}

// verifyBody builds the verify API's request with the event embedded as
// the raw body, byte for byte. encoding/json would compact a RawMessage
// and escape <, > and &, and PayPal computes its CRC over what it gets:
// a re-encoded event fails the check (providers.md section 7, traps).
// body has been parsed as one JSON object already, so the result is JSON.
func verifyBody(t *transmission, webhookID string, body []byte) ([]byte, error) {
	head, err := json.Marshal(verifyRequest{
		AuthAlgo: t.AuthAlg, CertURL: t.CertURL, TransmissionID: t.ID,
		TransmissionSig: t.SigRaw, TransmissionTime: t.TimeRaw, WebhookID: webhookID,
	})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(head) + len(body) + 20)
	b.Write(head[:len(head)-1]) // without the closing brace
	b.WriteString(`,"webhook_event":`)
	b.Write(body)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// verifyAnswer is the verify API's answer.
type verifyAnswer struct {
	VerificationStatus string `json:"verification_status"`
}

// verifyWithAPI asks PayPal whether the transmission is genuine. SUCCESS
// passes; FAILURE, or a 4xx refusing the request's contents, is
// bad_signature; PayPal unreachable, a 5xx, a redirect or an answer that
// says neither is query_unavailable: nothing is claimed and PayPal retries.
func (c *apiClient) verifyWithAPI(ctx context.Context, endpoint string, t *transmission, webhookID string, body []byte) error {
	reqBody, err := verifyBody(t, webhookID, body)
	if err != nil {
		return reason.Wrap(reason.QueryUnavailable, err, "paypal: verify request")
	}
	status, ans, err := c.call(ctx, "verify-webhook-signature", func() (*http.Request, error) {
		r, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(reqBody))
		if err == nil {
			r.Header.Set("Content-Type", "application/json")
		}
		return r, err
	})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return reason.New(reason.BadSignature, "paypal: verify-webhook-signature refused the transmission (HTTP %d)", status)
	}
	var v verifyAnswer
	if err := json.Unmarshal(ans, &v); err != nil {
		return reason.New(reason.QueryUnavailable, "paypal: verify-webhook-signature answer is not JSON")
	}
	switch v.VerificationStatus {
	case "SUCCESS":
		return nil
	case "FAILURE":
		return reason.New(reason.BadSignature, "paypal: verify-webhook-signature says FAILURE")
	}
	return reason.New(reason.QueryUnavailable, "paypal: verify-webhook-signature answered no verification_status")
}

// readAnswer reads an answer up to provider.MaxAnswer bytes; more is an
// error, never a silently cut body.
func readAnswer(resp *http.Response) ([]byte, error) {
	b, err := provider.ReadLimited(resp, provider.MaxAnswer)
	if err != nil {
		return nil, err
	}
	if len(b) > provider.MaxAnswer {
		return nil, fmt.Errorf("answer larger than %d bytes", provider.MaxAnswer)
	}
	return b, nil
}
