// Package audit writes payguard's audit records (DESIGN.md section 5, a
// contract): one JSON object per notification, as a line of a file or as
// the field "record" of a Redis stream entry.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

// Outcome is what became of a notification.
type Outcome string

// The outcomes of the contract.
const (
	// Forwarded: the shop accepted it; the provider got its success answer.
	Forwarded Outcome = "forwarded"
	// Rejected: a check failed (signature, freshness, query, policy, ...).
	Rejected Outcome = "rejected"
	// Duplicate: the event was done already; acknowledged, not forwarded.
	Duplicate Outcome = "duplicate"
	// Failed: a retryable failure (store, query backend, upstream, in flight).
	Failed Outcome = "failed"
	// Recovered: lost-callback recovery found a payment the provider never
	// notified (DESIGN.md section 11); Delivered says whether it was sent.
	Recovered Outcome = "recovered"
	// Unconfirmed: a watched order ended without a confirmed payment
	// (closed, schedule exhausted, or a registered amount the query denies).
	Unconfirmed Outcome = "unconfirmed"
)

// Record is one audit record. The JSON names and shapes are the contract;
// field order follows it.
type Record struct {
	// Time is when the notification arrived; written as RFC 3339 in UTC
	// whatever its location. A zero Time is written as the time of writing.
	Time          time.Time   `json:"time"`
	Provider      string      `json:"provider"`
	EventID       string      `json:"event_id"`
	OutTradeNo    string      `json:"out_trade_no"`
	TransactionID string      `json:"transaction_id"`
	Amount        int64       `json:"amount"` // minor units
	Currency      string      `json:"currency"`
	Status        string      `json:"status"`
	Outcome       Outcome     `json:"outcome"`
	Reason        reason.Code `json:"reason"`
	// Policy names the denying policy, when there is one.
	Policy string `json:"policy,omitempty"`
	// Query is the reverse-query result; nil is written as JSON null (not
	// omitted), so that "no query was made" is explicit in every record.
	Query    any    `json:"query"`
	RemoteIP string `json:"remote_ip"`
	// DurationMS is the pipeline's wall time in milliseconds, with
	// fractions (most notifications take well under one); see Millis.
	DurationMS float64 `json:"duration_ms"`
	TraceID    string  `json:"trace_id"`
	// Body is the raw body, already passed through Redact. Bytes that are
	// not UTF-8 (a GBK-encoded body) become U+FFFD in JSON.
	Body string `json:"body"`
	// DuplicateOf is the earlier transaction id when the order was already
	// paid by another transaction.
	DuplicateOf string `json:"duplicate_of,omitempty"`
	// Delivered is set on recovered records only: whether the recovered
	// payment was sent to deliver_to (false: report-only mode).
	Delivered *bool `json:"delivered,omitempty"`
}

// Millis converts a duration for Record.DurationMS.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// record has Record's fields without its MarshalJSON method.
type record Record

// MarshalJSON writes the contract's form: time in UTC (the zero time as
// now), and bodies' <, > and & unescaped so an XML body stays readable.
func (r Record) MarshalJSON() ([]byte, error) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(record(r)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// marshalLine is the record as one line of JSON, newline included. JSON
// escapes every newline inside strings, so a record never spans lines.
func marshalLine(r *Record) ([]byte, error) {
	b, err := r.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Sink receives audit records. Implementations are safe for concurrent use.
type Sink interface {
	// Write stores one record. An error means the record is lost; the
	// pipeline logs it and carries on (the audit trail never blocks a
	// payment).
	Write(ctx context.Context, r *Record) error
	// Close flushes and releases the sink; later Writes fail.
	Close() error
}

// Discard is a Sink that drops every record, for configurations without
// an audit target.
var Discard Sink = discard{}

type discard struct{}

func (discard) Write(context.Context, *Record) error { return nil }
func (discard) Close() error                         { return nil }
