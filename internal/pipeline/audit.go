package pipeline

import (
	"context"
	"net/netip"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/payguard/payguard/internal/audit"
)

// MaxUnverifiedAuditBody is how much of a body the audit record keeps when
// the request failed before its signature held: unauthenticated input must
// not grow shared state (a Redis stream beside the claims) without bound.
const MaxUnverifiedAuditBody = 4 << 10

// auditBody is the part of the body the record holds: all of a verified
// one, the first MaxUnverifiedAuditBody bytes of anything else, cut at a
// character boundary.
func auditBody(body []byte, verified bool) []byte {
	if verified || len(body) <= MaxUnverifiedAuditBody {
		return body
	}
	body = body[:MaxUnverifiedAuditBody]
	// Drop a UTF-8 sequence the cut split, so the record does not end in
	// a replacement character that was never sent.
	for i := 1; i <= utf8.UTFMax && i <= len(body); i++ {
		c := body[len(body)-i]
		if c < utf8.RuneSelf {
			break
		}
		if utf8.RuneStart(c) {
			if r, _ := utf8.DecodeRune(body[len(body)-i:]); r == utf8.RuneError {
				body = body[:len(body)-i]
			}
			break
		}
	}
	return body
}

// auditRecord writes rec, the audit record of one notification (DESIGN.md
// section 5; the Handle's own, allocated with its Result). The body is
// masked: the configured fields, and always the signature and card-number
// fields. at is when the notification arrived.
func (p *Pipeline) auditRecord(ctx context.Context, rec *audit.Record, res *Result, remoteIP netip.Addr, contentType string, at time.Time) {
	*rec = audit.Record{
		Time:        at,
		Provider:    p.name,
		Outcome:     res.Outcome,
		Reason:      res.Code,
		Policy:      res.Policy,
		DurationMS:  audit.Millis(res.Duration),
		Body:        p.redactor.Redact(auditBody(res.Body, res.Notification != nil), contentType),
		DuplicateOf: res.DuplicateOf,
	}
	if remoteIP.IsValid() {
		rec.RemoteIP = remoteIP.String()
	}
	if res.Query != nil {
		rec.Query = res.Query
	}
	if n := res.Notification; n != nil {
		rec.EventID, rec.OutTradeNo, rec.TransactionID = n.EventID, n.OutTradeNo, n.TransactionID
		rec.Amount, rec.Currency, rec.Status = n.Amount, n.Currency, string(n.Status)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		rec.TraceID = sc.TraceID().String()
	}
}
