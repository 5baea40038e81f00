package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

// This file is the reading side of the audit trail: the filter an operator
// asks with ("order X", "alipay refusals") and the decoding of a stored
// record. The sources (file.go's siblings filereader.go and streamreader.go)
// feed it; `payguard audit tail|find` prints what passes.

// Filter selects records; an empty field matches every record.
type Filter struct {
	Provider    string
	Outcome     Outcome
	Reason      reason.Code
	OutTradeNo  string
	EventID     string
	Transaction string
}

// Match reports whether r passes every set field.
func (f Filter) Match(r *Record) bool {
	return (f.Provider == "" || r.Provider == f.Provider) &&
		(f.Outcome == "" || r.Outcome == f.Outcome) &&
		(f.Reason == "" || r.Reason == f.Reason) &&
		(f.OutTradeNo == "" || r.OutTradeNo == f.OutTradeNo) &&
		(f.EventID == "" || r.EventID == f.EventID) &&
		(f.Transaction == "" || r.TransactionID == f.Transaction)
}

// ErrNotRecord is wrapped by Decode's errors: the bytes are not an audit
// record (a line cut short by a crash, another program's line).
var ErrNotRecord = errors.New("audit: not an audit record")

// Decode parses one stored record. A record needs its time and outcome;
// anything else (a truncated line, a JSON value that is not an object) is
// ErrNotRecord, never a panic.
func Decode(b []byte) (*Record, error) {
	var r record
	if err := json.Unmarshal(bytes.TrimSpace(b), &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRecord, err)
	}
	if r.Time.IsZero() || r.Outcome == "" {
		return nil, fmt.Errorf("%w: no time or outcome", ErrNotRecord)
	}
	rec := Record(r)
	return &rec, nil
}

// Visit is called with each record a reader yields, oldest first. Returning
// an error stops the reading with that error; ErrStop stops it cleanly.
type Visit func(*Record) error

// ErrStop stops a reading without an error.
var ErrStop = errors.New("audit: stop")

// Printer writes records for a terminal: a header once, then one row per
// record, in fixed-width columns so rows can be printed as they come
// (following) and still line up; or, with JSON, each record as its line.
type Printer struct {
	W      io.Writer
	JSON   bool
	header bool
}

const rowFormat = "%-24s  %-12s  %-10s  %-17s  %-20s  %-28s  %12s  %s\n"

// Print writes one record.
func (p *Printer) Print(r *Record) error {
	if p.JSON {
		b, err := r.MarshalJSON()
		if err != nil {
			return err
		}
		_, err = p.W.Write(append(b, '\n'))
		return err
	}
	if !p.header {
		p.header = true
		if _, err := fmt.Fprintf(p.W, rowFormat, "TIME", "PROVIDER", "OUTCOME", "REASON", "ORDER", "TRANSACTION", "AMOUNT", "EVENT"); err != nil {
			return err
		}
	}
	reasonCol := string(r.Reason)
	if r.Policy != "" {
		reasonCol += "(" + r.Policy + ")"
	}
	_, err := fmt.Fprintf(p.W, rowFormat,
		r.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		cellText(r.Provider), cellText(string(r.Outcome)), cellText(reasonCol),
		dash(cellText(r.OutTradeNo)), dash(cellText(r.TransactionID)),
		amountText(r), dash(cellText(r.EventID)))
	return err
}

// amountText is the amount as a decimal in its currency ("12.34 CNY").
func amountText(r *Record) string {
	if r.Currency == "" {
		if r.Amount == 0 {
			return "-"
		}
		return fmt.Sprint(r.Amount)
	}
	cur := cellText(r.Currency)
	return notification.FormatDecimal(r.Amount, notification.CurrencyExponent(cur)) + " " + cur
}

// cellText keeps a value on its row: control characters (a sender's
// newline or escape sequence in an event id) become spaces or '?'.
func cellText(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			return ' '
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0):
			return '?'
		}
		return c
	}, s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
