package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

// normalizedBody is the JSON of `forward normalized` (DESIGN.md section 4).
type normalizedBody struct {
	ID            string                `json:"id"`
	Provider      string                `json:"provider"`
	Type          string                `json:"type"`
	OutTradeNo    string                `json:"out_trade_no"`
	TransactionID string                `json:"transaction_id"`
	Amount        int64                 `json:"amount"`
	Currency      string                `json:"currency"`
	Status        notification.Status   `json:"status"`
	OccurredAt    *time.Time            `json:"occurred_at"`
	Query         *provider.QueryResult `json:"query"`
	DuplicateOf   string                `json:"duplicate_of,omitempty"`
	Raw           map[string]any        `json:"raw"`
}

// NormalizedJSON renders the normalized body for n.
func NormalizedJSON(n *notification.Notification, q *provider.QueryResult, duplicateOf string) ([]byte, error) {
	b := normalizedBody{
		ID: n.EventID, Provider: n.Provider, Type: n.Type,
		OutTradeNo: n.OutTradeNo, TransactionID: n.TransactionID,
		Amount: n.Amount, Currency: n.Currency, Status: n.Status,
		Query: q, DuplicateOf: duplicateOf, Raw: n.Raw,
	}
	if b.Type == "" {
		b.Type = notification.TypeFor(n.Status)
	}
	if !n.OccurredAt.IsZero() {
		t := n.OccurredAt.UTC()
		b.OccurredAt = &t
	}
	if b.Raw == nil {
		b.Raw = map[string]any{}
	}
	return json.Marshal(b)
}

// outgoing builds the sanitized request for the shop.
func (p *Pipeline) outgoing(in http.Header, body []byte, n *notification.Notification, q *provider.QueryResult, duplicateOf string) (*Outgoing, error) {
	h := in.Clone()
	StripPayguardHeaders(h)
	// Hop-by-hop and length headers are the transport's business; the
	// body may change length below.
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Del("Content-Encoding")

	if p.cfg.Forward == ForwardNormalized {
		var err error
		body, err = NormalizedJSON(n, q, duplicateOf)
		if err != nil {
			return nil, err
		}
		h.Set("Content-Type", "application/json")
	}

	h.Set(HeaderProvider, p.name)
	setIf(h, HeaderEventID, n.EventID)
	setIf(h, HeaderOutTradeNo, n.OutTradeNo)
	setIf(h, HeaderTransactionID, n.TransactionID)
	h.Set(HeaderAmount, formatAmount(n.Amount))
	setIf(h, HeaderCurrency, n.Currency)
	h.Set(HeaderStatus, string(n.Status))
	if q != nil {
		h.Set(HeaderQuery, "confirmed")
	} else {
		h.Set(HeaderQuery, "skipped")
	}
	setIf(h, HeaderDuplicatePayment, duplicateOf)

	if len(p.cfg.UpstreamSecrets) > 0 {
		id := n.EventID
		if id == "" {
			id = n.TransactionID
		}
		ts := p.cfg.Now().Unix()
		h.Set("Webhook-Id", id)
		h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
		h.Set("Webhook-Signature", SignStandardWebhook(p.cfg.UpstreamSecrets, id, ts, body))
	}
	return &Outgoing{Header: h, Body: body}, nil
}

// SignStandardWebhook returns the Standard Webhooks `webhook-signature`
// value: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" for each secret,
// space-separated.
func SignStandardWebhook(secrets [][]byte, id string, ts int64, body []byte) string {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		m := hmac.New(sha256.New, s)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(ts, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// ParseWebhookSecret decodes a Standard Webhooks secret: "whsec_" followed
// by base64. The error never repeats the secret.
func ParseWebhookSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("upstream_secret must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("upstream_secret: the part after whsec_ is not base64")
	}
	if len(key) < 16 {
		return nil, errors.New("upstream_secret: fewer than 16 bytes of key")
	}
	return key, nil
}

func setIf(h http.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}
