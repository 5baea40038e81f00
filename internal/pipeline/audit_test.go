package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/reason"
)

// The pipeline hands back the notification's audit record itself, so the
// caller writes it and rebuilds nothing from the headers it forwarded.
func TestHandleReturnsAuditRecord(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p, _ := newPipeline(t, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.AuditRedact = []string{"order"}
	})
	tid, _ := trace.TraceIDFromHex("0102030405060708090a0b0c0d0e0f10")
	sid, _ := trace.SpanIDFromHex("0102030405060708")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))

	in := post(msg("evt-a", "order-a", "txn-a", 250))
	res := p.Handle(ctx, in, (&shop{}).forward)
	expect(t, res, 200, reason.Forwarded)
	rec := res.Audit
	if rec == nil {
		t.Fatal("no audit record")
	}
	if rec.Provider != "fake" || rec.EventID != "evt-a" || rec.OutTradeNo != "order-a" || rec.TransactionID != "txn-a" ||
		rec.Amount != 250 || rec.Currency != "CNY" || rec.Status != "paid" || rec.Outcome != audit.Forwarded ||
		rec.Reason != reason.Forwarded || rec.RemoteIP != "203.0.113.7" || !rec.Time.Equal(now) ||
		rec.TraceID != tid.String() {
		t.Fatalf("record %+v", rec)
	}
	if !strings.Contains(rec.Body, `"order":"***"`) || strings.Contains(rec.Body, "order-a") {
		t.Fatalf("body not masked: %s", rec.Body)
	}

	// A rejection before verify has its record too, without notification
	// fields.
	in = post([]byte("{"))
	in.RemoteIP = netip.MustParseAddr("198.51.100.2")
	res = p.Handle(context.Background(), in, (&shop{}).forward)
	if rec := res.Audit; rec == nil || rec.Outcome != audit.Rejected || rec.Reason != reason.Malformed ||
		rec.EventID != "" || rec.RemoteIP != "198.51.100.2" || rec.Body != "{" {
		t.Fatalf("rejection record %+v", res.Audit)
	}
}

func TestSkipAuditBuildsNoRecord(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.SkipAudit = true })
	if res := p.Handle(context.Background(), post(msg("e", "o", "t", 1)), (&shop{}).forward); res.Audit != nil {
		t.Fatalf("record built: %+v", res.Audit)
	}
}

// Item 1 of the hostile review: an unsigned body of control bytes made a
// ~390 KB record. Before verify, the record keeps the first 4 KiB only; a
// verified body is kept whole.
func TestAuditBodyBoundedBeforeVerify(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.MaxBody = 1 << 20 })
	junk := bytes.Repeat([]byte{0x01, 0x02, 0x7f}, 20000) // 60 KB, unsigned
	res := p.Handle(context.Background(), post(junk), (&shop{}).forward)
	expect(t, res, 400, reason.Malformed)
	if got := len(res.Audit.Body); got != MaxUnverifiedAuditBody {
		t.Fatalf("unverified record body is %d bytes, want %d", got, MaxUnverifiedAuditBody)
	}
	line, _ := res.Audit.MarshalJSON()
	if len(line) > 8*MaxUnverifiedAuditBody {
		t.Fatalf("record is %d bytes", len(line))
	}

	// A verified notification keeps its whole body.
	long, _ := json.Marshal(fakeMsg{ID: "big", Order: strings.Repeat("x", 10000), Txn: "t", Amount: 1, Sig: "good"})
	res = p.Handle(context.Background(), post(long), (&shop{}).forward)
	expect(t, res, 200, reason.Forwarded)
	if len(res.Audit.Body) != len(long) {
		t.Fatalf("verified body cut to %d of %d bytes", len(res.Audit.Body), len(long))
	}
}

func TestAuditBodyCutAtCharacterBoundary(t *testing.T) {
	body := append(bytes.Repeat([]byte("a"), MaxUnverifiedAuditBody-1), "支付"...)
	got := auditBody(body, false)
	if len(got) != MaxUnverifiedAuditBody-1 || !utf8.Valid(got) {
		t.Fatalf("cut to %d bytes, valid %v", len(got), utf8.Valid(got))
	}
	if got := auditBody(body[:100], false); len(got) != 100 {
		t.Fatalf("short body cut to %d", len(got))
	}
}
