// Package appstore verifies App Store Server Notifications V2 and asks the
// App Store Server API (Get Transaction Info) about their transactions.
//
// A notification is `{"signedPayload":"<JWS>"}`. The JWS is ES256 only;
// its x5c chain must be exactly leaf, intermediate, root and chain to a
// pinned root (Apple Root CA - G3, shipped here), with Apple's marker
// extensions on the leaf and the intermediate, valid when Apple signed.
// The nested signedTransactionInfo and signedRenewalInfo are verified the
// same way, and the bundle id and environment must be the configured ones.
// Nothing here knows Caddy.
package appstore

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// Name is the provider's configured name.
const Name = "appstore"

// DefaultDedupTTL is how long a delivered notification is remembered:
// Apple retries for about 6.5 days (1, 12, 24, 48 and 72 hours apart), with
// the same notificationUUID and, as far as anyone has established, the
// same bytes (DESIGN.md section 2 step 4).
const DefaultDedupTTL = 168 * time.Hour

// Config configures a Provider.
type Config struct {
	// BundleID is the app's bundle identifier; every notification and
	// transaction must name it.
	BundleID string
	// Environment is EnvProduction or EnvSandbox; every notification and
	// transaction must be for it.
	Environment string
	// Roots are the pinned roots; nil means Apple Root CA - G3.
	Roots []*x509.Certificate
}

// Provider verifies App Store Server Notifications V2.
type Provider struct {
	v verifier
}

// New checks cfg and returns the provider.
func New(cfg Config) (*Provider, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	return &Provider{v: v}, nil
}

func newVerifier(cfg Config) (verifier, error) {
	if cfg.BundleID == "" {
		return verifier{}, errors.New("appstore: bundle_id is required")
	}
	if cfg.Environment != EnvProduction && cfg.Environment != EnvSandbox {
		return verifier{}, fmt.Errorf("appstore: environment must be %s or %s", EnvProduction, EnvSandbox)
	}
	roots := cfg.Roots
	if len(roots) == 0 {
		roots = []*x509.Certificate{AppleRootCAG3()}
	}
	return verifier{chain: newChainVerifier(roots), bundleID: cfg.BundleID, environment: cfg.Environment}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Traits implements provider.Provider: notifications are POSTed, and
// remembered for a week by default because Apple retries for that long.
func (p *Provider) Traits() provider.Traits {
	return provider.Traits{Method: http.MethodPost, DefaultDedupTTL: DefaultDedupTTL}
}

// Acknowledge implements provider.Provider: Apple reads only the status
// (200-206 is received). Apple is reported to retry after a 5xx only, so
// in_flight, which asks for a retry, is 503 rather than the contract's
// 409; every other rejection keeps the contract's status.
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusOK}
	}
	if code == reason.InFlight {
		return provider.Ack{Status: http.StatusServiceUnavailable}
	}
	if status < 400 {
		status = reason.HTTPStatus(code)
	}
	if status < 400 { // a refusal must never read as received
		status = http.StatusInternalServerError
	}
	return provider.Ack{Status: status}
}

// VerifyNotify implements provider.Provider.
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	if err := checkURLQuery(req.RawQuery); err != nil {
		return nil, err
	}
	body, err := strictjson.DecodeObject(req.Body)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "body")
	}
	signed, _, err := stringField(body, "signedPayload")
	if err != nil || signed == "" {
		return nil, reason.New(reason.Malformed, "body has no signedPayload string")
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	payload, err := p.v.verifySigned(signed, now)
	if err != nil {
		return nil, err
	}
	if err := p.checkIdentity(payload); err != nil {
		return nil, err
	}
	n, err := p.notification(payload, now)
	if err != nil {
		return nil, err
	}
	// signedDate is Apple's signing time, not a send time: the pipeline
	// holds it to max_age, never to tolerance (DESIGN.md section 2 step 4).
	return &provider.Verified{Notification: *n, EventTime: n.OccurredAt}, nil
}

// checkIdentity applies Apple's rule for which member names the app:
// data, else summary (renewal-extension summaries), else
// externalPurchaseToken (whose environment is told by its id's SANDBOX
// prefix).
func (p *Provider) checkIdentity(payload map[string]any) error {
	bundle, env, err := notificationIdentity(payload)
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "payload")
	}
	if bundle != p.v.bundleID {
		return reason.New(reason.BadSignature, "notification is for bundleId %q, not the configured one", clip(bundle))
	}
	if env != p.v.environment {
		return reason.New(reason.BadSignature, "notification is for environment %q, not %s", clip(env), p.v.environment)
	}
	return nil
}

func notificationIdentity(payload map[string]any) (bundle, env string, err error) {
	for _, key := range []string{"data", "summary"} {
		obj, ok, err := objectField(payload, key)
		if err != nil {
			return "", "", err
		}
		if !ok {
			continue
		}
		if bundle, _, err = stringField(obj, "bundleId"); err != nil {
			return "", "", err
		}
		if env, _, err = stringField(obj, "environment"); err != nil {
			return "", "", err
		}
		return bundle, env, nil
	}
	tok, ok, err := objectField(payload, "externalPurchaseToken")
	if err != nil || !ok {
		return "", "", err
	}
	if bundle, _, err = stringField(tok, "bundleId"); err != nil {
		return "", "", err
	}
	id, _, err := stringField(tok, "externalPurchaseId")
	if err != nil {
		return "", "", err
	}
	if strings.HasPrefix(id, "SANDBOX") {
		return bundle, EnvSandbox, nil
	}
	return bundle, EnvProduction, nil
}

// checkURLQuery refuses a URL query parameter named like the signed body
// member, after the renamings common frameworks apply (case; `.`, space and
// `[` read as `_`; PHP's `name[]`): an unsigned value must not shadow it in
// a shop that reads parameters from both (DESIGN.md section 2 step 1).
func checkURLQuery(raw string) error {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		key, _, _ = strings.Cut(strings.ToLower(key), "[")
		key = strings.NewReplacer(".", "_", " ", "_").Replace(key)
		if key == "signedpayload" {
			return reason.New(reason.Malformed, "URL query parameter %q shadows the signed body", clip(key))
		}
	}
	return nil
}

// checkID keeps ids to what Apple issues (UUIDs, digits), so one never
// needs escaping in a header, a store key or a log line.
func checkID(field, v string) error {
	if v == "" || len(v) > 128 {
		return fmt.Errorf("%s is empty or longer than 128 bytes", field)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return fmt.Errorf("%s %q holds a character Apple does not issue", field, clip(v))
		}
	}
	return nil
}
