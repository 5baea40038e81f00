package pipeline

import (
	"context"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/payguard/payguard/internal/audit"
)

// auditRecord is the audit record of one notification (DESIGN.md section
// 5). The body is masked: the configured fields, and always the signature
// and card-number fields. at is when the notification arrived.
func (p *Pipeline) auditRecord(ctx context.Context, res *Result, remoteIP netip.Addr, contentType string, at time.Time) *audit.Record {
	rec := &audit.Record{
		Time:        at,
		Provider:    p.name,
		Outcome:     res.Outcome,
		Reason:      res.Code,
		Policy:      res.Policy,
		DurationMS:  audit.Millis(res.Duration),
		Body:        audit.Redact(res.Body, contentType, p.cfg.AuditRedact),
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
	return rec
}
