// Package stdwebhooks is the provider for any sender that signs its
// webhooks the Standard Webhooks way (https://www.standardwebhooks.com):
// `webhook-id`, `webhook-timestamp` and `webhook-signature` over
// `id.timestamp.body`, with v1 (HMAC-SHA256, `whsec_` secrets) or v1a
// (Ed25519, a `whpk_` public key). The scheme itself is internal/stdwebhook,
// shared with payguard's own `upstream_secret` signing.
//
// The payload has no fixed schema: CEL field mappings (mapping.go) turn the
// parsed body and headers into the normalized notification. The standard
// defines no query API, so there is no reverse query.
package stdwebhooks

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/stdwebhook"
	"github.com/payguard/payguard/internal/strictjson"
)

// Name is the provider name in the Caddyfile and in Payguard-Provider.
const Name = "stdwebhooks"

// Config is what a Provider is built from.
type Config struct {
	// Secrets are the v1 HMAC keys (decoded whsec_ values); several during
	// a rotation. Exclusive with PublicKeys.
	Secrets [][]byte
	// PublicKeys verify v1a (Ed25519) signatures. A receiver holding
	// public keys accepts no v1 entry: the point of v1a is that nobody but
	// the sender can sign, which a shared secret would undo.
	PublicKeys []ed25519.PublicKey
	// Mappings are CEL expressions by field name (FieldAmount, ...); a
	// missing one takes DefaultMapping.
	Mappings map[string]string
}

// Provider verifies Standard Webhooks notifications.
type Provider struct {
	keys   stdwebhook.Keys
	fields fieldMap
}

// New checks c and compiles its mappings.
func New(c Config) (*Provider, error) {
	switch {
	case len(c.Secrets) == 0 && len(c.PublicKeys) == 0:
		return nil, errors.New("stdwebhooks: secret or public_key is required")
	case len(c.Secrets) > 0 && len(c.PublicKeys) > 0:
		return nil, errors.New("stdwebhooks: secret and public_key exclude each other (a v1a receiver must not accept what a shared secret can sign)")
	}
	for _, s := range c.Secrets {
		if len(s) < stdwebhook.MinSecretLen {
			return nil, errors.New("stdwebhooks: a secret is shorter than 16 bytes")
		}
	}
	for _, k := range c.PublicKeys {
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("stdwebhooks: a public key is not 32 bytes")
		}
	}
	fields, err := compileFields(c.Mappings)
	if err != nil {
		return nil, err
	}
	return &Provider{keys: stdwebhook.Keys{Secrets: c.Secrets, PublicKeys: c.PublicKeys}, fields: fields}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Traits: Standard Webhooks are POSTs.
func (p *Provider) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// VerifyNotify implements provider.Provider: the three headers are parsed,
// one signature entry of the configured scheme must match, then the body
// is parsed and mapped. Timestamp is the signed webhook-timestamp, which
// the pipeline holds to `tolerance` in both directions (the spec's window
// is 5 minutes, payguard's default). The webhook-id is no nonce: it is the
// same on every retry, so it is the default event id and the store's
// claim, not a replay check, makes a resend a duplicate.
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	m, err := stdwebhook.ParseHeaders(req.Header)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "")
	}
	if err := p.keys.Verify(m, req.Body); err != nil {
		detail := "no signature entry matches the configured secrets"
		if len(p.keys.PublicKeys) > 0 {
			detail = "no v1a signature entry matches the configured public keys"
		}
		if errors.Is(err, stdwebhook.ErrNoSignature) {
			detail = "webhook-signature holds no v1 entry, the scheme the configured secrets verify"
			if len(p.keys.PublicKeys) > 0 {
				detail = "webhook-signature holds no v1a entry, the scheme the configured public keys verify"
			}
		}
		return nil, reason.Wrap(reason.BadSignature, nil, detail)
	}
	// A key repeated in one object is refused: the shop's JSON library may
	// keep the other copy than ours, and a mapping must read the value the
	// shop reads (DESIGN.md section 2, step 3). Numbers stay json.Number, so
	// an integral one is an int in CEL and amounts never pass through float64.
	body, err := strictjson.DecodeObject(req.Body)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "body")
	}
	n, err := p.fields.apply(body, req.Header)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "mapping")
	}
	n.Provider = Name
	n.Raw = body
	n.OccurredAt = eventTime(body)
	return &provider.Verified{Notification: n, Timestamp: m.Time}, nil
}

// eventTime is the body's `timestamp` (the spec's recommended time of the
// event), when it is an RFC 3339 string; zero otherwise. It only informs
// occurred_at: freshness is the signed webhook-timestamp's.
func eventTime(body map[string]any) time.Time {
	s, ok := body["timestamp"].(string)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Acknowledge implements provider.Provider: senders count any 2xx as
// delivered and retry everything else, so an accepted notification is a
// bare 200 and a refusal the contract's status code (DESIGN.md section 5)
// with the reason as text. A status that would read as success, or 410
// (which tells a Standard Webhooks sender to disable the endpoint), is
// replaced by the reason's status, or 500.
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusOK}
	}
	status = provider.RefusalStatus(code, status, http.StatusGone)
	return provider.Ack{Status: status, ContentType: "text/plain; charset=utf-8", Body: []byte(string(code) + "\n")}
}
