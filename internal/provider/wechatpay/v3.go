package wechatpay

import (
	"crypto"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// V3Name is the provider name of WeChat Pay API v3.
const V3Name = "wechatpay_v3"

// V3 header names and the only signature type WeChat Pay v3 uses.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSignatureType = "Wechatpay-Signature-Type"
	// SignatureTypeRSA is the value of Wechatpay-Signature-Type, and the
	// Authorization scheme of signed requests.
	SignatureTypeRSA = "WECHATPAY2-SHA256-RSA2048"
	// PublicKeyIDPrefix starts every public-key-mode key ID.
	PublicKeyIDPrefix = "PUB_KEY_ID_"
	// signTestPrefix is what community docs report WeChat's deliberately
	// invalid "signature probe" requests start with. Not confirmed
	// (providers.md section 11); it only changes the log detail, since any
	// signature that does not verify is bad_signature anyway.
	signTestPrefix = "WECHATPAY/SIGNTEST/"
	// DefaultV3Endpoint is the production API host.
	DefaultV3Endpoint = "https://api.mch.weixin.qq.com"
	// DefaultTolerance is the signed-timestamp window of query answers, the
	// same five minutes the official SDKs use.
	DefaultTolerance = 5 * time.Minute
)

// V3Config configures wechatpay_v3. Byte slices are the operator's key
// material as read at provision (PEM or bare base64 DER, see package keys).
// It is parsed once by NewV3 and not kept.
type V3Config struct {
	// MchID is the merchant number; every notification's mchid must equal it.
	MchID string
	// AppID, when set, must equal the appid of notifications and query
	// answers that carry one (refund notices carry none).
	AppID string
	// APIv3Key is the 32-character API v3 key set in the merchant console.
	APIv3Key []byte

	// PlatformCerts holds platform certificates (each entry may hold
	// several PEM blocks): several at once during a rotation, chosen by the
	// Wechatpay-Serial header.
	PlatformCerts [][]byte
	// PublicKeyID (PUB_KEY_ID_...) and PublicKey configure public-key mode.
	// Both modes may be set together while WeChat migrates a merchant; the
	// serial of each message chooses.
	PublicKeyID string
	PublicKey   []byte

	// MerchantSerial and PrivateKey (the merchant API certificate's serial
	// and key) enable QueryOrder. Both or neither.
	MerchantSerial string
	PrivateKey     []byte
	// Endpoint is the API base URL, DefaultV3Endpoint when empty (the
	// simulator's URL in tests).
	Endpoint string
	// HTTPClient makes queries; a client with a 10s timeout that follows no
	// redirects when nil.
	HTTPClient *http.Client

	// Now is the clock for certificate validity and query answers;
	// time.Now when nil. VerifyNotify prefers provider.Request.Now when set,
	// because that is the clock the pipeline checks the window with.
	Now func() time.Time
	// Tolerance is the window for the signed timestamp of query answers
	// (DefaultTolerance when zero). The window for notifications is the
	// pipeline's: VerifyNotify returns the timestamp and does not judge it.
	Tolerance time.Duration
}

// V3 is the wechatpay_v3 provider. It is safe for concurrent use.
type V3 struct {
	mchID     string
	appID     string
	aead      cipher.AEAD                  // AES-GCM under the API v3 key, for resources
	certs     map[string]*x509.Certificate // normalized serial -> certificate
	pubKeyID  string
	pubKey    *rsa.PublicKey
	now       func() time.Time
	tolerance time.Duration

	// query side; merchantKey nil means queries are not configured.
	merchantSerial string
	merchantKey    *rsa.PrivateKey
	endpoint       string
	client         *http.Client
}

var (
	_ provider.Provider = (*V3)(nil)
	_ provider.Querier  = (*V3)(nil)
)

// NewV3 checks and parses cfg. Errors name the option at fault in the
// Caddyfile's spelling and never echo key bytes.
func NewV3(cfg V3Config) (*V3, error) {
	p := &V3{
		mchID:          cfg.MchID,
		appID:          cfg.AppID,
		certs:          map[string]*x509.Certificate{},
		pubKeyID:       cfg.PublicKeyID,
		now:            cfg.Now,
		tolerance:      cfg.Tolerance,
		merchantSerial: cfg.MerchantSerial,
		endpoint:       strings.TrimRight(cfg.Endpoint, "/"),
		client:         cfg.HTTPClient,
	}
	if p.mchID == "" {
		return nil, errors.New("wechatpay_v3: mch_id is required")
	}
	aead, err := newResourceAEAD(cfg.APIv3Key)
	if err != nil {
		return nil, fmt.Errorf("wechatpay_v3: api_v3_key: %v", err)
	}
	p.aead = aead

	for i, data := range cfg.PlatformCerts {
		certs, err := ParsePlatformCerts(data)
		if err != nil {
			return nil, fmt.Errorf("wechatpay_v3: platform_cert_file %d: %v", i+1, err)
		}
		for _, c := range certs {
			s := normalizeSerial(certSerial(c))
			if prev, dup := p.certs[s]; dup && !prev.Equal(c) {
				return nil, fmt.Errorf("wechatpay_v3: platform_cert_file: two different certificates with serial %s", certSerial(c))
			}
			p.certs[s] = c
		}
	}
	switch {
	case cfg.PublicKeyID != "" && len(cfg.PublicKey) > 0:
		if err := CheckPublicKeyID([]byte(cfg.PublicKeyID)); err != nil {
			return nil, fmt.Errorf("wechatpay_v3: public_key_id: %v", err)
		}
		k, err := keys.ParseRSAPublicKey(cfg.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("wechatpay_v3: public_key: %v", err)
		}
		p.pubKey = k
	case cfg.PublicKeyID != "" || len(cfg.PublicKey) > 0:
		return nil, errors.New("wechatpay_v3: public_key_id and public_key go together")
	}
	if len(p.certs) == 0 && p.pubKey == nil {
		return nil, errors.New("wechatpay_v3: platform_cert_file or public_key_id + public_key is required")
	}

	switch {
	case cfg.MerchantSerial != "" && len(cfg.PrivateKey) > 0:
		k, err := parseRSA2048PrivateKey(cfg.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("wechatpay_v3: private_key: %v", err)
		}
		p.merchantKey = k
	case cfg.MerchantSerial != "" || len(cfg.PrivateKey) > 0:
		return nil, errors.New("wechatpay_v3: query needs both merchant_serial and private_key")
	}
	if p.endpoint == "" {
		p.endpoint = DefaultV3Endpoint
	}
	if err := checkEndpoint("wechatpay_v3: query endpoint", p.endpoint); err != nil {
		return nil, err
	}
	if p.client == nil {
		p.client = defaultHTTPClient()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.tolerance <= 0 {
		p.tolerance = DefaultTolerance
	}
	return p, nil
}

// Name implements provider.Provider.
func (p *V3) Name() string { return V3Name }

// Traits implements provider.Provider: notifications are POSTed.
func (p *V3) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// CanQuery reports whether QueryOrder has credentials (DESIGN: query is on
// by default when credentials are given).
func (p *V3) CanQuery() bool { return p.merchantKey != nil }

// certSerial is a certificate's serial as WeChat writes it in
// Wechatpay-Serial: upper-case hex (providers.md; the SDKs use Text(16)).
func certSerial(c *x509.Certificate) string {
	return strings.ToUpper(c.SerialNumber.Text(16))
}

// normalizeSerial makes a header serial and a computed one comparable:
// upper case, leading zeros dropped (big.Int.Text drops them, a header
// copied from openssl may keep them).
func normalizeSerial(s string) string {
	s = strings.TrimLeft(strings.ToUpper(s), "0")
	if s == "" {
		return "0"
	}
	return s
}

// signedHeaders are the Wechatpay-* facts a signature covers.
type signedHeaders struct {
	timestamp string
	nonce     string
	serial    string
	signature string
}

// singleHeader returns the one value of a header. Absent or empty: ok
// false. Repeated: an error, because which copy was signed would be a guess.
func singleHeader(h http.Header, name string) (string, bool, *reason.Error) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], vs[0] != "", nil
	}
	return "", false, reason.New(reason.Malformed, "header %s repeated", name)
}

// readSignedHeaders extracts the Wechatpay-* headers.
//
// A missing or empty header is bad_signature, not malformed: the request is
// simply not authenticated, WeChat expects 401 for that (wechatpay-java's
// example), and its signature probes must never be told apart from other
// failures. A repeated header is malformed (duplicate parameters are
// rejected, never guessed).
func readSignedHeaders(h http.Header) (signedHeaders, *reason.Error) {
	var sh signedHeaders
	var rerr *reason.Error
	if sh.timestamp, rerr = requiredHeader(h, HeaderTimestamp); rerr != nil {
		return sh, rerr
	}
	if sh.nonce, rerr = requiredHeader(h, HeaderNonce); rerr != nil {
		return sh, rerr
	}
	if sh.serial, rerr = requiredHeader(h, HeaderSerial); rerr != nil {
		return sh, rerr
	}
	if sh.signature, rerr = requiredHeader(h, HeaderSignature); rerr != nil {
		return sh, rerr
	}
	st, _, rerr := singleHeader(h, HeaderSignatureType)
	if rerr != nil {
		return sh, rerr
	}
	// Absent means the default; present (even empty) must be exactly the
	// one type WeChat uses. The algorithm comes from us, never from the
	// message.
	if len(h.Values(HeaderSignatureType)) > 0 && st != SignatureTypeRSA {
		return sh, reason.New(reason.BadSignature, "unsupported %s %s", HeaderSignatureType, short(st))
	}
	return sh, nil
}

// requiredHeader is singleHeader for a header that must be present and
// not empty.
func requiredHeader(h http.Header, name string) (string, *reason.Error) {
	v, ok, rerr := singleHeader(h, name)
	if rerr != nil {
		return "", rerr
	}
	if !ok {
		return "", reason.New(reason.BadSignature, "header %s missing", name)
	}
	return v, nil
}

// keyFor chooses the verification key for a serial: the public key when the
// serial is the configured key ID, else the platform certificate of that
// serial, which must be valid at now. An unknown serial is unknown_key and
// never triggers a download.
func (p *V3) keyFor(serial string, now time.Time) (*rsa.PublicKey, *reason.Error) {
	if p.pubKey != nil && serial == p.pubKeyID {
		return p.pubKey, nil
	}
	if strings.HasPrefix(serial, PublicKeyIDPrefix) {
		return nil, reason.New(reason.UnknownKey, "public key ID %s not configured", short(serial))
	}
	c, ok := p.certs[normalizeSerial(serial)]
	if !ok {
		return nil, reason.New(reason.UnknownKey, "platform certificate serial %s not configured", short(serial))
	}
	if now.After(c.NotAfter) {
		return nil, reason.New(reason.UnknownKey, "platform certificate %s expired at %s", certSerial(c), c.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.NotBefore) {
		return nil, reason.New(reason.UnknownKey, "platform certificate %s not valid before %s (expired or not yet valid)", certSerial(c), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return c.PublicKey.(*rsa.PublicKey), nil
}

// verifySigned authenticates headers and body the way WeChat signs both
// notifications and API answers: SHA256withRSA (PKCS#1 v1.5) over
// timestamp\nnonce\nbody\n with the key the serial names. Only after the
// signature holds is the timestamp parsed, so an unsigned timestamp is
// never believed. It returns the signed time and nonce.
func (p *V3) verifySigned(h http.Header, body []byte, now time.Time) (time.Time, string, *reason.Error) {
	sh, rerr := readSignedHeaders(h)
	if rerr != nil {
		return time.Time{}, "", rerr
	}
	if strings.HasPrefix(sh.signature, signTestPrefix) {
		return time.Time{}, "", reason.New(reason.BadSignature, "signature probe")
	}
	pub, rerr := p.keyFor(sh.serial, now)
	if rerr != nil {
		return time.Time{}, "", rerr
	}
	var sigBuf [512]byte // a 4096-bit key's signature; a longer one grows on the heap
	sig, err := base64.StdEncoding.AppendDecode(sigBuf[:0], []byte(sh.signature))
	if err != nil {
		return time.Time{}, "", reason.New(reason.BadSignature, "signature is not base64")
	}
	hh := sha256.New()
	hh.Write([]byte(sh.timestamp))
	hh.Write([]byte{'\n'})
	hh.Write([]byte(sh.nonce))
	hh.Write([]byte{'\n'})
	hh.Write(body)
	hh.Write([]byte{'\n'})
	var digest [sha256.Size]byte
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, hh.Sum(digest[:0]), sig); err != nil {
		return time.Time{}, "", reason.New(reason.BadSignature, "signature does not verify with key %s", short(sh.serial))
	}
	ts, ok := parseUint(sh.timestamp)
	if !ok {
		return time.Time{}, "", reason.New(reason.Malformed, "%s is not unix seconds", HeaderTimestamp)
	}
	return time.Unix(ts, 0), sh.nonce, nil
}

// VerifyNotify implements provider.Provider.
//
// Order: headers and signature-type, key by serial (unknown_key), the RSA
// signature over the raw body (bad_signature), then the timestamp, the
// strict JSON envelope (malformed), AES-GCM decryption (bad_signature), the
// plaintext and the merchant checks. The timestamp and nonce come back in
// Verified for the pipeline's window and replay checks; this method does
// not judge freshness.
func (p *V3) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	if req == nil {
		return nil, reason.New(reason.Malformed, "no request")
	}
	now := req.Now
	if now.IsZero() {
		now = p.now()
	}
	ts, nonce, rerr := p.verifySigned(req.Header, req.Body, now)
	if rerr != nil {
		return nil, rerr
	}
	v := &provider.Verified{Timestamp: ts, Nonce: nonce}
	if rerr := p.readNotification(req.Body, &v.Notification); rerr != nil {
		return nil, rerr
	}
	return v, nil
}

// Acknowledge implements provider.Provider: 204 without a body for an
// accepted notification; otherwise JSON {"code":"FAIL","message":<reason>}
// with the given status. WeChat retries only on 4xx/5xx, so a status below
// 400 (or none) is replaced by the reason's contract status, and by 500 if
// that is not an error status either: a refusal must never read as success.
func (p *V3) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusNoContent}
	}
	status = provider.RefusalStatus(code, status)
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"FAIL", string(code)})
	return provider.Ack{Status: status, ContentType: "application/json", Body: body}
}

// CheckAPIv3Key is the APIv3 key's rule. The key is 32 ASCII characters in
// production (AES-256, as the label AEAD_AES_256_GCM says). 16 and 24 bytes
// are accepted as well, giving AES-128/192-GCM, because the official SDK's
// own test vector (the one payguard's tests run) uses the 16-byte key
// "testMchAPIv3Key0". Any other length is refused at start rather than
// failing every notification later; a trailing newline from a key file is
// the usual cause of a 33. The error gives the length, never the key.
func CheckAPIv3Key(b []byte) error {
	switch len(b) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("must be 32 bytes (16 or 24 accepted for test keys), got %d%s", len(b), newlineHint(b))
}

// CheckAPIKey is the v2 API key's rule: the console only issues
// 32-character keys.
func CheckAPIKey(b []byte) error {
	if len(b) == 32 {
		return nil
	}
	return fmt.Errorf("must be 32 bytes, got %d%s", len(b), newlineHint(b))
}

func newlineHint(b []byte) string {
	if len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		return " (the file ends with a newline; write it without one)"
	}
	return ""
}

// ParsePlatformCerts parses a platform certificate file: certificates with
// RSA keys of at least 2048 bits.
func ParsePlatformCerts(data []byte) ([]*x509.Certificate, error) {
	certs, err := keys.ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate %s has no RSA key", certSerial(c))
		}
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("certificate %s has an RSA key of %d bits, fewer than 2048", certSerial(c), pub.N.BitLen())
		}
	}
	return certs, nil
}

// CheckPublicKeyID is the rule for public-key mode's key id.
func CheckPublicKeyID(b []byte) error {
	s := string(b)
	if !strings.HasPrefix(s, PublicKeyIDPrefix) || len(s) == len(PublicKeyIDPrefix) {
		return fmt.Errorf("must be %s followed by the id the merchant console shows", PublicKeyIDPrefix)
	}
	return nil
}

func parseRSA2048PrivateKey(b []byte) (*rsa.PrivateKey, error) {
	k, err := keys.ParseRSAPrivateKey(b)
	if err != nil {
		return nil, err
	}
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key has %d bits, fewer than 2048", k.N.BitLen())
	}
	return k, nil
}
