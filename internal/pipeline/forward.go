package pipeline

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/stdwebhook"
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
	RefundAmount  *int64                `json:"refund_amount,omitempty"`
	RefundID      string                `json:"refund_id,omitempty"`
	Raw           map[string]any        `json:"raw"`
}

// NormalizedJSON renders the normalized body for n.
func NormalizedJSON(n *notification.Notification, q *provider.QueryResult, duplicateOf string) ([]byte, error) {
	b := normalizedBody{
		ID: n.EventID, Provider: n.Provider, Type: n.Type,
		OutTradeNo: n.OutTradeNo, TransactionID: n.TransactionID,
		Amount: n.Amount, Currency: n.Currency, Status: n.Status,
		Query: q, DuplicateOf: duplicateOf, Raw: n.Fields(),
	}
	if b.Type == "" {
		b.Type = notification.TypeFor(n.Status)
	}
	if n.Status == notification.StatusRefunded {
		ra := n.RefundAmount
		b.RefundAmount, b.RefundID = &ra, n.RefundID
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

// ownHeaderCount is the most headers outgoing adds: payguard's eleven,
// Content-Type in normalized mode and the three of an upstream signature.
const ownHeaderCount = 15

// outgoing builds the sanitized request for the shop in out (the
// delivery's own, allocated with it).
func (p *Pipeline) outgoing(out *Outgoing, in http.Header, body []byte, n *notification.Notification, q *provider.QueryResult, duplicateOf string) error {
	h, own := cloneWithRoom(in, ownHeaderCount, out.headerVals[:])
	StripSenderHeaders(h)
	// Hop-by-hop and length headers are the transport's business; the
	// body may change length below.
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Del("Content-Encoding")

	if p.cfg.Forward == ForwardNormalized {
		var err error
		body, err = NormalizedJSON(n, q, duplicateOf)
		if err != nil {
			return err
		}
		own.set("Content-Type", "application/json")
	}

	own.set(HeaderProvider, p.name)
	own.setIf(HeaderEventID, n.EventID)
	own.setIf(HeaderOutTradeNo, n.OutTradeNo)
	own.setIf(HeaderTransactionID, n.TransactionID)
	own.set(HeaderAmount, formatAmount(n.Amount))
	own.setIf(HeaderCurrency, n.Currency)
	own.set(HeaderStatus, string(n.Status))
	if q != nil {
		own.set(HeaderQuery, "confirmed")
	} else {
		own.set(HeaderQuery, "skipped")
	}
	own.setIf(HeaderDuplicatePayment, duplicateOf)
	if n.Status == notification.StatusRefunded {
		// Payguard-Amount stays the payment's; the refund has its own.
		own.set(HeaderRefundAmount, formatAmount(n.RefundAmount))
		own.setIf(HeaderRefundID, n.RefundID)
	}

	if len(p.cfg.UpstreamSecrets) > 0 {
		id := n.EventID
		if id == "" {
			id = n.TransactionID
		}
		ts := p.cfg.Now().Unix()
		// Whatever the sender called its own Webhook-* headers, the shop
		// sees payguard's signature only.
		for _, k := range []string{stdwebhook.HeaderID, stdwebhook.HeaderTimestamp, stdwebhook.HeaderSignature} {
			deleteHeaderVariants(h, k)
		}
		own.set(stdwebhook.HeaderID, id)
		own.set(stdwebhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
		own.set(stdwebhook.HeaderSignature, stdwebhook.Sign(p.cfg.UpstreamSecrets, id, ts, body))
	}
	out.Header, out.Body = h, body
	return nil
}

// cloneWithRoom is in.Clone() (nil values kept nil, each key's values
// capped at their own) in a map with room for extra more keys, whose
// values are set through own from the same backing array: room (the
// Outgoing's own) where the values fit in it, else one allocated. The
// whole header then costs the map alone instead of a clone, its regrowth
// as payguard's headers go in, and a slice for them.
func cloneWithRoom(in http.Header, extra int, room []string) (http.Header, ownHeaders) {
	nv := 0
	for _, vv := range in {
		nv += len(vv)
	}
	var sv []string
	if nv+extra <= len(room) {
		sv = room[:nv]
	} else {
		sv = make([]string, nv, nv+extra)
	}
	h := make(http.Header, len(in)+extra)
	rest := sv
	for k, vv := range in {
		if vv == nil {
			h[k] = nil
			continue
		}
		n := copy(rest, vv)
		h[k] = rest[:n:n]
		rest = rest[n:]
	}
	return h, ownHeaders{h: h, vals: sv[nv:nv]}
}

// ownHeaders sets payguard's headers (canonical constants, so the map is
// written directly, as Header.Set would) from one backing array (setIf:
// an empty value sets nothing). Each header's slice is capped at its one
// value, so appending to it never reaches the next; past the array's
// room a header gets a slice of its own.
type ownHeaders struct {
	h    http.Header
	vals []string
}

func (o *ownHeaders) setIf(k, v string) {
	if v != "" {
		o.set(k, v)
	}
}

func (o *ownHeaders) set(k, v string) {
	if len(o.vals) == cap(o.vals) {
		o.h[k] = []string{v}
		return
	}
	o.vals = append(o.vals, v)
	n := len(o.vals)
	o.h[k] = o.vals[n-1 : n : n]
}
