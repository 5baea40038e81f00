// Package unionpay verifies China UnionPay online-gateway notifications
// (ACP 5.1.0, signMethod 01: the backUrl form POST), acknowledges them as
// UnionPay expects (HTTP 200, anything else is a retry), asks UnionPay
// itself about an order (queryTrans.do, signed with the merchant's key),
// and signs like UnionPay for the simulator.
//
// A notification carries its own signing certificate (signPubKeyCert), so
// a notification is only as good as the check of that certificate: it must
// chain to the configured middle and root certificates, be valid now, and
// name UnionPay as its owner (the CN's third '@' field), because every
// merchant holds a certificate under the same CFCA root. Checked
// certificates are cached by the hash of their bytes.
//
// Everything is parsed once in New; a Provider is immutable afterwards and
// safe for concurrent use. Nothing here knows Caddy. The rules followed are
// those of shared/providers.md section 4; where they were silent, the
// choice is documented where it is made.
package unionpay

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Name is the provider name.
const Name = "unionpay"

// DefaultEndpoint is UnionPay's production queryTrans.do.
const DefaultEndpoint = "https://gateway.95516.com/gateway/api/queryTrans.do"

// Protocol constants. The algorithm always comes from here: a message's
// signMethod is only compared with it.
const (
	Version      = "5.1.0"
	SignMethod   = "01" // RSA-SHA256 over the hex SHA-256 of the content
	encodingUTF8 = "UTF-8"
)

// Field names.
const (
	fieldSignature = "signature"
	fieldCert      = "signPubKeyCert"
)

// beijing is UnionPay's clock: txnTime is yyyyMMddHHmmss in UTC+8.
var beijing = time.FixedZone("CST", 8*3600)

// TimeLayout is txnTime's layout.
const TimeLayout = "20060102150405"

// Config is the operator's UnionPay configuration.
type Config struct {
	// MerID is the merchant number (merId); a message for another
	// merchant is refused.
	MerID string
	// RootCert and MiddleCert are UnionPay's acp_prod_root.cer and
	// acp_prod_middle.cer (PEM, base64 DER or DER).
	RootCert, MiddleCert []byte

	// Query credentials, one form or the other (none: no query).
	// SignCert is the merchant's PKCS#12 signing certificate (the .pfx
	// UnionPay issues) and SignCertPassword its password.
	SignCert, SignCertPassword []byte
	// PrivateKey is the merchant's signing key as PEM, and CertID the
	// decimal serial of its certificate (the certId UnionPay knows it by).
	PrivateKey []byte
	CertID     string

	Endpoint   string       // default DefaultEndpoint
	HTTPClient *http.Client // default provider.NewHTTPClient(0)

	// Now is the clock for certificate validity when a request carries no
	// time; default time.Now.
	Now func() time.Time
	// Warn is told about what the operator should fix before it breaks
	// (a certificate close to its expiry); may be nil.
	Warn func(string)
}

// Provider is a configured UnionPay provider. It implements
// provider.Provider, provider.Querier and provider.OrderQuerier.
type Provider struct {
	merID string
	certs *chainVerifier
	now   func() time.Time

	signKey  *rsa.PrivateKey // nil: no query
	certID   string
	endpoint string
	client   *http.Client
}

var (
	_ provider.Provider     = (*Provider)(nil)
	_ provider.Querier      = (*Provider)(nil)
	_ provider.OrderQuerier = (*Provider)(nil)
)

// expiryWarning is how long before a configured certificate expires the
// operator is warned at start.
const expiryWarning = 30 * 24 * time.Hour

// New checks and parses cfg once. Errors name the option at fault and
// never echo key material.
func New(cfg Config) (*Provider, error) {
	p := &Provider{merID: strings.TrimSpace(cfg.MerID), now: cfg.Now, client: cfg.HTTPClient}
	if p.now == nil {
		p.now = time.Now
	}
	if p.client == nil {
		p.client = provider.NewHTTPClient(0)
	}
	warn := cfg.Warn
	if warn == nil {
		warn = func(string) {}
	}
	if err := CheckMerID([]byte(p.merID)); err != nil {
		return nil, fmt.Errorf("mer_id: %v", err)
	}
	if len(cfg.RootCert) == 0 || len(cfg.MiddleCert) == 0 {
		return nil, errors.New("root_cert_file and middle_cert_file are required")
	}
	certs, err := newChainVerifier(cfg.RootCert, cfg.MiddleCert)
	if err != nil {
		return nil, err
	}
	p.certs = certs
	if exp := expiry(cfg.RootCert, cfg.MiddleCert); exp.Sub(p.now()) < expiryWarning {
		warn(fmt.Sprintf("unionpay: a configured root or middle certificate expires %s", exp.UTC().Format(time.RFC3339)))
	}
	if err := p.loadMerchantKey(cfg, warn); err != nil {
		return nil, err
	}
	p.endpoint = strings.TrimSpace(cfg.Endpoint)
	if p.endpoint == "" {
		p.endpoint = DefaultEndpoint
	}
	if u, err := url.Parse(p.endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("query endpoint must be an http(s) URL")
	}
	return p, nil
}

// CheckMerID checks a merId's shape: UnionPay's merchant numbers are 15
// characters; anything from 1 to 32 letters and digits is accepted.
func CheckMerID(b []byte) error {
	if len(b) == 0 || len(b) > 32 {
		return errors.New("must be 1 to 32 letters and digits")
	}
	for _, c := range b {
		if !isAlnum(c) {
			return errors.New("must be 1 to 32 letters and digits")
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Name is "unionpay".
func (p *Provider) Name() string { return Name }

// Traits: notifications are POSTed.
func (p *Provider) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// CanQuery reports whether query credentials are configured.
func (p *Provider) CanQuery() bool { return p.signKey != nil }

// Acknowledge answers UnionPay: 200 for an accepted notification, which
// ends its resends; any other status makes it send again. UnionPay does
// not read the body, so a refusal carries the reason code as plain text
// for whoever reads the logs, with the contract's status (never a 2xx).
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusOK}
	}
	status = provider.RefusalStatus(code, status)
	return provider.Ack{Status: status, ContentType: "text/plain; charset=utf-8", Body: []byte(code)}
}
