// Package alipay verifies Alipay Open Platform notifications (async notify
// POSTs and the browser's synchronous return), acknowledges them in Alipay's
// format, asks Alipay itself about an order (alipay.trade.query), and signs
// like Alipay for the simulator.
//
// Everything is parsed once in New; a Provider is immutable afterwards and
// safe for concurrent use. Nothing here knows Caddy. The rules followed are
// those of shared/providers.md section 1; where they were silent, the choice
// is documented at the place it is made.
package alipay

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Name is the provider name.
const Name = "alipay"

// DefaultEndpoint is Alipay's production gateway.
const DefaultEndpoint = "https://openapi.alipay.com/gateway.do"

// Sign types. The algorithm always comes from configuration: a message's
// sign_type is only compared with it (gopay picks SHA-1 when a notification
// says RSA, which turns a downgrade into a forgery aid).
const (
	SignTypeRSA2 = "RSA2" // SHA256withRSA, PKCS#1 v1.5
	SignTypeRSA  = "RSA"  // SHA1withRSA, legacy, only when configured
)

// Modes.
const (
	ModeNotify = "notify" // async notification, POST form body
	ModeReturn = "return" // browser return, GET query string
)

// Config is the operator's Alipay configuration. Key material is PEM or the
// bare base64 DER that Alipay's console shows.
type Config struct {
	AppID    string
	SellerID string // optional; when set, seller_id must equal it

	// Public-key mode: the Alipay public key ("支付宝公钥", not the app's).
	PublicKey []byte
	// Certificate mode: alipayCertPublicKey_RSA2.crt (the Alipay
	// certificate first, optionally followed by its intermediates) and
	// alipayRootCert.crt (the root bundle).
	Cert, RootCert []byte

	SignType string // SignTypeRSA2 (default) or SignTypeRSA
	Mode     string // ModeNotify (default) or ModeReturn

	// Reverse query (alipay.trade.query).
	PrivateKey []byte       // app private key; without it there is no query
	AppCert    []byte       // certificate mode: the app's public certificate, for app_cert_sn
	Endpoint   string       // default DefaultEndpoint
	HTTPClient *http.Client // default: 3s timeout, no redirects

	// Now is the clock, for certificate validity at New and for query
	// timestamps. Default time.Now.
	Now func() time.Time
}

// Provider is a configured Alipay provider. It implements provider.Provider
// and provider.Querier.
type Provider struct {
	appID, sellerID string
	signType        string
	hash            crypto.Hash
	mode            string
	now             func() time.Time

	alipayKey  *rsa.PublicKey
	certMode   bool
	certSN     string // SN of the configured Alipay certificate (cert mode)
	rootCertSN string // alipay_root_cert_sn (cert mode)

	privKey   *rsa.PrivateKey
	appCertSN string
	endpoint  string
	client    *http.Client
}

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Querier  = (*Provider)(nil)
)

// beijing is Alipay's clock: every timestamp it signs or expects is
// "2006-01-02 15:04:05" in UTC+8, without a zone.
var beijing = time.FixedZone("CST", 8*3600)

const timeLayout = "2006-01-02 15:04:05"

// New checks and parses cfg once. Errors name the option at fault and never
// echo key material.
func New(cfg Config) (*Provider, error) {
	p := &Provider{
		appID:    strings.TrimSpace(cfg.AppID),
		sellerID: strings.TrimSpace(cfg.SellerID),
		now:      cfg.Now,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.appID == "" {
		return nil, errors.New("app_id is required")
	}
	switch strings.ToUpper(strings.TrimSpace(cfg.SignType)) {
	case "", SignTypeRSA2:
		p.signType, p.hash = SignTypeRSA2, crypto.SHA256
	case SignTypeRSA:
		p.signType, p.hash = SignTypeRSA, crypto.SHA1
	default:
		return nil, errors.New("sign_type must be RSA2 or RSA")
	}
	switch strings.ToLower(strings.TrimSpace(cfg.Mode)) {
	case "", ModeNotify:
		p.mode = ModeNotify
	case ModeReturn:
		p.mode = ModeReturn
	default:
		return nil, errors.New("mode must be notify or return")
	}

	hasPub := len(cfg.PublicKey) > 0
	hasCert := len(cfg.Cert) > 0 || len(cfg.RootCert) > 0
	switch {
	case hasPub && hasCert:
		return nil, errors.New("either public_key or cert_file+root_cert_file, not both")
	case !hasPub && !hasCert:
		return nil, errors.New("either public_key or cert_file+root_cert_file is required")
	case hasPub:
		k, err := keys.ParseRSAPublicKey(cfg.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("public_key: %v", err)
		}
		p.alipayKey = k
	default:
		if err := p.loadCerts(cfg.Cert, cfg.RootCert); err != nil {
			return nil, err
		}
	}

	if err := p.loadQueryKey(cfg); err != nil {
		return nil, err
	}

	p.endpoint = strings.TrimSpace(cfg.Endpoint)
	if p.endpoint == "" {
		p.endpoint = DefaultEndpoint
	}
	u, err := url.Parse(p.endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("query endpoint must be an http(s) URL")
	}
	p.client = cfg.HTTPClient
	if p.client == nil {
		// The seam hands every provider its client; a Provider built
		// directly (tests, the bench) gets the same policy.
		p.client = provider.NewHTTPClient(3 * time.Second)
	}
	return p, nil
}

// loadQueryKey parses the app's private key that signs queries and, in
// certificate mode, checks the app certificate holds its public key.
func (p *Provider) loadQueryKey(cfg Config) error {
	if len(cfg.AppCert) > 0 && !p.certMode {
		return errors.New("app_cert_file is only used in certificate mode")
	}
	if len(cfg.PrivateKey) == 0 {
		if len(cfg.AppCert) > 0 {
			return errors.New("app_cert_file needs private_key")
		}
		return nil
	}
	k, err := keys.ParseRSAPrivateKey(cfg.PrivateKey)
	if err != nil {
		return fmt.Errorf("private_key: %v", err)
	}
	p.privKey = k
	if !p.certMode {
		return nil
	}
	if len(cfg.AppCert) == 0 {
		return errors.New("app_cert_file is required for queries in certificate mode")
	}
	certs, err := keys.ParseCertificates(cfg.AppCert)
	if err != nil {
		return fmt.Errorf("app_cert_file: %v", err)
	}
	pub, ok := certs[0].PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&k.PublicKey) {
		return errors.New("app_cert_file does not hold the public key of private_key")
	}
	p.appCertSN = CertSN(certs[0])
	return nil
}

// loadCerts parses certificate mode's files, checks that the Alipay
// certificate chains to the root bundle, and derives both SNs.
func (p *Provider) loadCerts(certPEM, rootPEM []byte) error {
	if len(certPEM) == 0 {
		return errors.New("cert_file is required with root_cert_file")
	}
	if len(rootPEM) == 0 {
		return errors.New("root_cert_file is required with cert_file")
	}
	certs, err := keys.ParseCertificates(certPEM)
	if err != nil {
		return fmt.Errorf("cert_file: %v", err)
	}
	roots, err := ParseRootBundle(rootPEM)
	if err != nil {
		return fmt.Errorf("root_cert_file: %v", err)
	}
	// The first certificate is Alipay's, as in the Java SDK; any others in
	// the file are its intermediates.
	leaf := certs[0]
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("cert_file: the Alipay certificate's key is not RSA")
	}
	if pub.N.BitLen() < 2048 {
		return fmt.Errorf("cert_file: RSA key has %d bits, fewer than 2048", pub.N.BitLen())
	}
	rootPool := x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: inter,
		CurrentTime:   p.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		// Alipay's console download of alipayCertPublicKey_RSA2.crt may hold
		// only the leaf; its issuer (Ant Financial Certification Authority
		// Class 2 R1) is then missing and must be appended to cert_file.
		return fmt.Errorf("cert_file: the Alipay certificate does not chain to root_cert_file (append its intermediate CA to cert_file if it is missing): %v", err)
	}
	p.alipayKey = pub
	p.certMode = true
	p.certSN = CertSN(leaf)
	p.rootCertSN = RootCertSN(roots)
	if p.rootCertSN == "" {
		return errors.New("root_cert_file: no RSA-signed root, so no alipay_root_cert_sn")
	}
	return nil
}

// Name is "alipay".
func (p *Provider) Name() string { return Name }

// Traits: async notifications are POSTs; the browser return is a GET that
// the pipeline verifies and forwards but never claims or acknowledges,
// since anyone holding the return URL can replay it.
func (p *Provider) Traits() provider.Traits {
	if p.mode == ModeReturn {
		return provider.Traits{Method: http.MethodGet, Passthrough: true}
	}
	return provider.Traits{Method: http.MethodPost}
}

// CanQuery reports whether a reverse query is configured (an app private
// key is present).
func (p *Provider) CanQuery() bool { return p.privKey != nil }

// Acknowledge renders Alipay's acknowledgement: exactly "success" accepts;
// Alipay judges by the body alone, so anything else (here exactly "fail")
// makes it retry, whatever the status. The status still follows the
// pipeline's reason so logs and proxies see the real outcome.
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}
	}
	if status == 0 {
		status = reason.HTTPStatus(code)
	}
	return provider.Ack{Status: status, ContentType: "text/plain; charset=utf-8", Body: []byte("fail")}
}
