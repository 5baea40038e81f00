// Package pingpp is the Ping++ (pingxx.com) provider: webhooks signed with
// RSA-SHA256 (PKCS#1 v1.5) over the raw body, the signature base64 in
// X-Pingplusplus-Signature, checked with the Ping++ public key from the
// merchant's dashboard (providers.md section 9).
//
// Ping++ is an aggregator: one event format for every channel behind it
// (WeChat, Alipay, UnionPay, ...). charge.succeeded and refund.succeeded
// are mapped; every other event type verifies and passes with status
// other. Ping++ signs no send time and no nonce: freshness comes from the
// event's signed created time (held to max_age by the pipeline) and the
// event id (the claim).
package pingpp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Name is the provider name.
const Name = "pingpp"

// SignatureHeader carries the base64 RSA-SHA256 signature of the body.
const SignatureHeader = "X-Pingplusplus-Signature"

// Config configures the provider. It is read once by New and not kept.
type Config struct {
	// PublicKey is the "Ping++ 公钥" of the dashboard: the only key a
	// webhook verifies with. The algorithm is fixed (RSA-SHA256); nothing
	// in a message chooses it.
	PublicKey *rsa.PublicKey
	// AppID, when set, must equal the event object's app: one Ping++
	// account (one public key) serves several apps, and a route is for one.
	AppID string
}

// Provider is the pingpp provider. It is safe for concurrent use.
type Provider struct {
	key   *rsa.PublicKey
	appID string
}

var _ provider.Provider = (*Provider)(nil)

// New checks cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.PublicKey == nil {
		return nil, errors.New("pingpp: public_key is required")
	}
	if cfg.PublicKey.N.BitLen() < 2048 {
		return nil, errors.New("pingpp: public_key has fewer than 2048 bits")
	}
	return &Provider{key: cfg.PublicKey, appID: cfg.AppID}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Traits implements provider.Provider: webhooks are POSTed.
func (p *Provider) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// VerifyNotify implements provider.Provider: the signature first, over the
// raw body, and only then the event is parsed.
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	var sigBuf [512]byte // a 4096-bit key's signature; a longer one grows on the heap
	sig, rerr := signature(req.Header, p.key.Size(), sigBuf[:])
	if rerr != nil {
		return nil, rerr
	}
	digest := sha256.Sum256(req.Body)
	if err := rsa.VerifyPKCS1v15(p.key, crypto.SHA256, digest[:], sig); err != nil {
		return nil, reason.New(reason.BadSignature, "%s does not verify with the configured public key (RSA-SHA256)", SignatureHeader)
	}
	ev, err := parseEvent(req.Body)
	if err != nil {
		return nil, err
	}
	v := &provider.Verified{EventTime: ev.created}
	if err := ev.fill(&v.Notification); err != nil {
		return nil, err
	}
	if p.appID != "" && v.Notification.Merchant != p.appID {
		return nil, reason.New(reason.BadSignature, "event is for app %s, not the configured app_id", quote(v.Notification.Merchant))
	}
	return v, nil
}

// signature reads the one signature header: absent or empty (Ping++
// test-mode webhooks are unsigned) is bad_signature; twice is malformed,
// since two values leave it to chance which one a verifier reads.
//
// The signature is decoded into buf when it fits (the caller's stack).
func signature(h http.Header, size int, buf []byte) ([]byte, *reason.Error) {
	vals := h.Values(SignatureHeader)
	switch {
	case len(vals) > 1:
		return nil, reason.New(reason.Malformed, "%s occurs %d times", SignatureHeader, len(vals))
	case len(vals) == 0 || vals[0] == "":
		return nil, reason.New(reason.BadSignature, "%s missing (test-mode webhooks are unsigned and never accepted)", SignatureHeader)
	}
	sig, err := base64.StdEncoding.Strict().AppendDecode(buf[:0], []byte(vals[0]))
	if err != nil {
		return nil, reason.New(reason.BadSignature, "%s is not base64", SignatureHeader)
	}
	if len(sig) != size {
		return nil, reason.New(reason.BadSignature, "%s holds %d bytes, not the key's %d", SignatureHeader, len(sig), size)
	}
	return sig, nil
}

// Acknowledge implements provider.Provider: Ping++ takes any 2xx as
// delivered and retries on anything else, so 200 accepts and a rejection
// keeps its contract status (DESIGN.md section 5). The body is a word for
// people reading Ping++'s delivery log; Ping++ does not read it.
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	const ct = "text/plain; charset=utf-8"
	if ok {
		return provider.Ack{Status: http.StatusOK, ContentType: ct, Body: []byte("success")}
	}
	if status == 0 {
		status = reason.HTTPStatus(code)
	}
	return provider.Ack{Status: status, ContentType: ct, Body: []byte(code)}
}
