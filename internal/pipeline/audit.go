package pipeline

import (
	"net/netip"
	"time"

	"github.com/payguard/payguard/internal/audit"
)

// AuditRecord is the audit record of one notification (DESIGN.md section
// 5). The body is masked: the fields in redact, and always the signature
// and card-number fields.
func AuditRecord(providerName string, res *Result, remoteIP netip.Addr, redact []string, contentType string, at time.Time) *audit.Record {
	rec := &audit.Record{
		Time:        at,
		Provider:    providerName,
		Outcome:     res.Outcome,
		Reason:      res.Code,
		Policy:      res.Policy,
		DurationMS:  audit.Millis(res.Duration),
		Body:        audit.Redact(res.Body, contentType, redact),
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
	return rec
}
