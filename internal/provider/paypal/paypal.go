// Package paypal verifies PayPal REST webhooks and queries PayPal's
// payments API (providers.md section 7).
//
// Two ways to verify, chosen by configuration:
//   - verify api: PayPal's verify-webhook-signature API, authenticated with
//     an OAuth2 client-credentials token that is cached until it expires;
//     the raw body goes into the request byte for byte.
//   - verify offline: the CRC32 scheme
//     transmission_id|transmission_time|webhook_id|crc32(body), signed
//     SHA256withRSA by the certificate of cert_file, or by the one the
//     PAYPAL-CERT-URL names, fetched only over HTTPS from PayPal's own API
//     hosts, chain- and name-checked, cached by URL.
//
// In both modes PAYPAL-AUTH-ALGO must be SHA256withRSA, the cert URL must
// be on PayPal's hosts, the webhook id is the configured one, the
// transmission id is the nonce and the transmission time the signed
// timestamp. Nothing here knows Caddy.
package paypal

import (
	"context"
	"net/http"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Name is the provider's name in the Caddyfile and in Payguard-Provider.
const Name = "paypal"

// Provider verifies PayPal webhooks for one webhook id.
type Provider struct {
	webhookID string
	// Exactly one of api and certs is set: the verification mode.
	api       *apiClient
	verifyURL string
	certs     certSource
}

var _ provider.Provider = (*Provider)(nil)

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Traits implements provider.Provider: PayPal POSTs its webhooks.
func (p *Provider) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// VerifyNotify implements provider.Provider. The headers and the event
// are parsed first, so malformed input never costs a call to PayPal; then
// the signature is checked by the configured mode.
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	t, err := parseTransmission(req.Header)
	if err != nil {
		return nil, err
	}
	n, err := parseEvent(req.Body)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if p.api != nil {
		err = p.api.verifyWithAPI(ctx, p.verifyURL, t, p.webhookID, req.Body)
	} else {
		err = verifySignature(ctx, p.certs, t, p.webhookID, req.Body)
	}
	if err != nil {
		return nil, err
	}
	if n.OccurredAt.IsZero() {
		n.OccurredAt = t.Time.UTC()
	}
	return &provider.Verified{Notification: *n, Timestamp: t.Time, Nonce: t.ID}, nil
}

// Acknowledge implements provider.Provider: PayPal reads the status only.
// 200 for an accepted notification; the contract's status code for a
// refusal, so that retryable ones (5xx, 409) are retried and PayPal's
// dashboard shows why.
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusOK}
	}
	status = provider.RefusalStatus(code, status)
	return provider.Ack{Status: status}
}
