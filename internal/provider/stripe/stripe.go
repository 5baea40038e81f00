// Package stripe implements payguard's Stripe provider: webhook events
// signed with HMAC-SHA256 in the Stripe-Signature header, normalized into
// payguard's notification, and confirmed by retrieving the same event from
// Stripe's API (GET /v1/events/{id}); orders are looked up for
// lost-callback recovery with the PaymentIntents search API.
//
// The scheme is stripe-go's webhook package, with three deliberate
// differences: the signed timestamp is returned to the pipeline, which
// holds it to `tolerance` in both directions (stripe-go checks only the
// past); a header with no v1 signature at all (only v0, Stripe's test-mode
// legacy scheme, or only unknown schemes) is refused as bad_signature
// before anything is computed; and the JSON is decoded strictly (a key
// repeated in any object is malformed, since two parsers could read two
// different events out of one signed body).
//
// Nothing here knows Caddy. Every error VerifyNotify, QueryOrder or
// QueryByOrderNo returns is a *reason.Error whose detail never holds a
// secret, an API key or a body; the parsers never panic (fuzzed).
// The facts implemented are those of shared/providers.md sections 0 and 6;
// decisions taken where that reference is silent are documented where they
// are taken.
package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Name is the provider name.
const Name = "stripe"

// HeaderSignature is the header Stripe signs every delivery in.
const HeaderSignature = "Stripe-Signature"

// SecretPrefix starts every webhook signing secret Stripe issues (the
// Dashboard's "Signing secret" and `stripe listen`). The whole string,
// prefix included, is the HMAC key: it is not base64-decoded, unlike
// Standard Webhooks secrets.
const SecretPrefix = "whsec_"

// MaxSecrets bounds the secrets of one route: each costs one HMAC over the
// body per notification, and Stripe keeps at most two alive while a secret
// is rolled.
const MaxSecrets = 8

// Provider is the stripe provider. It is safe for concurrent use.
type Provider struct {
	secrets [][]byte
	// macs[i] holds HMAC-SHA256s keyed with secrets[i], reset for each
	// notification: a fresh hmac.New costs two SHA-256 blocks and eight
	// allocations per notification and secret.
	macs []*sync.Pool
}

var _ provider.Provider = (*Provider)(nil)

// New returns a provider that accepts notifications signed with any of
// secrets (several while a secret is rolled). Each must be a whsec_
// secret as Stripe shows it.
func New(secrets [][]byte) (*Provider, error) {
	if len(secrets) == 0 {
		return nil, errors.New("at least one secret (whsec_...) is required")
	}
	if len(secrets) > MaxSecrets {
		return nil, fmt.Errorf("at most %d secrets; Stripe keeps two alive while one is rolled", MaxSecrets)
	}
	p := &Provider{}
	for i, s := range secrets {
		if err := CheckSecret(s); err != nil {
			return nil, fmt.Errorf("secret %d: %v", i+1, err)
		}
		key := append([]byte(nil), s...)
		p.secrets = append(p.secrets, key)
		p.macs = append(p.macs, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	return p, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Traits implements provider.Provider: Stripe POSTs every event.
func (p *Provider) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// Acknowledge implements provider.Provider. Stripe reads only the status:
// any 2xx is delivered, anything else is retried (for up to three days in
// live mode). The short JSON body is for a human reading the Dashboard's
// delivery log. A refusal must never read as success, so a status outside
// 4xx/5xx is replaced by the reason's contract status (or 500).
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{"received":true}`)}
	}
	status = provider.RefusalStatus(code, status)
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{string(code)})
	return provider.Ack{Status: status, ContentType: "application/json", Body: body}
}

// computeSignature is Stripe's v1 signature: HMAC-SHA256 keyed with the
// whole secret string over "<t>.<body>".
func computeSignature(secret []byte, t int64, body []byte) []byte {
	return signedPayloadMAC(hmac.New(sha256.New, secret), t, body, nil)
}

// signedPayloadMAC appends to out mac's sum over Stripe's signed payload
// "<t>.<body>"; mac is fresh or reset.
func signedPayloadMAC(mac hash.Hash, t int64, body, out []byte) []byte {
	var ts [20]byte
	mac.Write(strconv.AppendInt(ts[:0], t, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(out)
}

// signature is computeSignature under secrets[i] with a pooled HMAC,
// written into out.
func (p *Provider) signature(i int, t int64, body []byte, out *[sha256.Size]byte) []byte {
	mac := p.macs[i].Get().(hash.Hash)
	defer p.macs[i].Put(mac)
	mac.Reset()
	return signedPayloadMAC(mac, t, body, out[:0])
}

// SignatureHeader returns the Stripe-Signature value Stripe sends for body
// signed at t: one v1 entry per secret, as during a secret roll. It is the
// signer of the simulator and the tests, the counterpart of stripe-go's
// GenerateTestSignedPayload.
func SignatureHeader(t time.Time, body []byte, secrets ...[]byte) string {
	ts := t.Unix()
	out := "t=" + strconv.FormatInt(ts, 10)
	for _, s := range secrets {
		out += ",v1=" + hex.EncodeToString(computeSignature(s, ts, body))
	}
	return out
}

// quote shortens untrusted text for an error detail.
func quote(s string) string {
	const max = 48
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "…"
}
