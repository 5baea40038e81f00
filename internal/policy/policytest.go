package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

// Exit statuses of RunTests (and `payguard policy test`).
const (
	ExitMatched   = 0 // every case got its expected verdict
	ExitMismatch  = 1 // some case did not, or a case file is unreadable
	ExitCompile   = 2 // a policy does not compile, or the command is misused
	maxCaseLength = 1 << 20
)

// Verdict is a case's outcome.
type Verdict string

// The two verdicts.
const (
	Allow Verdict = "allow"
	Deny  Verdict = "deny"
)

// Case is one recorded notification with what the policies should say
// about it. Its file is exactly the JSON payguard forwards with `forward
// normalized` (DESIGN.md section 4), with optional `order`, `request` and
// `expect` (default allow).
type Case struct {
	Path   string
	Input  *Input
	Expect Verdict
}

// caseFile is the case JSON. Unknown keys are errors: a misspelt
// "expect" or "remote_ip" must not silently test something else.
type caseFile struct {
	ID            string                `json:"id"`
	Provider      string                `json:"provider"`
	Type          string                `json:"type"`
	OutTradeNo    string                `json:"out_trade_no"`
	TransactionID string                `json:"transaction_id"`
	Amount        int64                 `json:"amount"`
	Currency      string                `json:"currency"`
	Status        notification.Status   `json:"status"`
	OccurredAt    *time.Time            `json:"occurred_at"`
	RefundAmount  int64                 `json:"refund_amount"`
	RefundID      string                `json:"refund_id"`
	DuplicateOf   string                `json:"duplicate_of"`
	Source        string                `json:"source"`
	Query         *provider.QueryResult `json:"query"`
	Raw           map[string]any        `json:"raw"`

	Order   *Order       `json:"order"`
	Request *caseRequest `json:"request"`
	Expect  Verdict      `json:"expect"`
}

type caseRequest struct {
	RemoteIP string            `json:"remote_ip"`
	Headers  map[string]string `json:"headers"`
	Path     string            `json:"path"`
	Time     *time.Time        `json:"time"`
}

// ParseCase reads one case. now is request.time when the case gives none.
func ParseCase(path string, b []byte, now time.Time) (*Case, error) {
	var f caseFile
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // raw numbers are ints in CEL when integral, as in the pipeline
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("case %s: %w", path, err)
	}
	if d.More() {
		return nil, fmt.Errorf("case %s: data after the JSON object", path)
	}
	switch f.Expect {
	case "":
		f.Expect = Allow
	case Allow, Deny:
	default:
		return nil, fmt.Errorf("case %s: expect is %q, not allow or deny", path, f.Expect)
	}
	n := &notification.Notification{
		Provider: f.Provider, EventID: f.ID, Type: f.Type, OutTradeNo: f.OutTradeNo,
		TransactionID: f.TransactionID, Amount: f.Amount, Currency: f.Currency, Status: f.Status,
		RefundAmount: f.RefundAmount, RefundID: f.RefundID, Raw: f.Raw,
	}
	if f.OccurredAt != nil {
		n.OccurredAt = *f.OccurredAt
	}
	in := &Input{Notification: n, Query: f.Query, Order: f.Order, DuplicateOf: f.DuplicateOf, Time: now}
	if r := f.Request; r != nil {
		in.Path, in.Header = r.Path, http.Header{}
		for k, v := range r.Headers {
			in.Header.Set(k, v)
		}
		if r.RemoteIP != "" {
			ip, err := netip.ParseAddr(r.RemoteIP)
			if err != nil {
				return nil, fmt.Errorf("case %s: request.remote_ip %q is not an IP address", path, r.RemoteIP)
			}
			in.RemoteIP = ip
		}
		if r.Time != nil {
			in.Time = *r.Time
		}
	}
	return &Case{Path: path, Input: in, Expect: f.Expect}, nil
}

// LoadCases reads case files; a directory stands for the .json files in
// it, in name order.
func LoadCases(paths []string, now time.Time) ([]*Case, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: no .json case files in the folder", p)
		}
		slices.Sort(matches)
		files = append(files, matches...)
	}
	var cases []*Case
	for _, f := range files {
		b, err := readCapped(f)
		if err != nil {
			return nil, err
		}
		c, err := ParseCase(f, b, now)
		if err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, nil
}

func readCapped(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxCaseLength+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCaseLength {
		return nil, fmt.Errorf("case %s: larger than %d bytes", path, maxCaseLength)
	}
	return b, nil
}

// Outcome is what the policies said about one case.
type Outcome struct {
	Case    *Case
	Verdict Verdict
	// Denier is the first policy that denied, and Err its evaluation
	// error (nil when it returned false); Condition is the part of it
	// that failed, when it is a conjunction.
	Denier    string
	Err       error
	Condition string
}

// Matched reports whether the case got its expected verdict.
func (o *Outcome) Matched() bool { return o.Verdict == o.Case.Expect }

// Why is the reason for a denial, for people.
func (o *Outcome) Why() string {
	if o.Verdict == Allow {
		return ""
	}
	if o.Err != nil {
		return o.Denier + ": " + o.Err.Error()
	}
	if o.Condition != "" {
		return o.Denier + ": " + o.Condition
	}
	return o.Denier + ": returned false"
}

// Evaluate runs every policy on a case, as the pipeline does: all must
// allow, the first that does not is the denier.
func Evaluate(ctx context.Context, progs []*Program, c *Case) *Outcome {
	for _, p := range progs {
		ok, err := p.Allow(ctx, c.Input)
		if err != nil || !ok {
			o := &Outcome{Case: c, Verdict: Deny, Denier: p.Name(), Err: err}
			if err == nil {
				o.Condition = p.Explain(ctx, c.Input)
			}
			return o
		}
	}
	return &Outcome{Case: c, Verdict: Allow}
}

// RunTests is `payguard policy test`: it compiles the policy files,
// evaluates them on every case, prints one line per case, and returns the
// exit status (ExitMatched, ExitMismatch, ExitCompile).
func RunTests(w io.Writer, policyFiles, casePaths []string, now time.Time) int {
	if len(policyFiles) == 0 || len(casePaths) == 0 {
		fmt.Fprintln(w, "usage: payguard policy test <policy.cel>... --case <case.json|dir>...")
		return ExitCompile
	}
	var progs []*Program
	for _, f := range policyFiles {
		p, err := CompileFile(f)
		if err != nil {
			fmt.Fprintf(w, "compile error: %v\n", err)
			return ExitCompile
		}
		progs = append(progs, p)
	}
	cases, err := LoadCases(casePaths, now)
	if err != nil {
		fmt.Fprintf(w, "error: %v\n", err)
		return ExitMismatch
	}
	failed := 0
	for _, c := range cases {
		o := Evaluate(context.Background(), progs, c)
		mark := "ok  "
		if !o.Matched() {
			mark = "FAIL"
			failed++
		}
		line := fmt.Sprintf("%s %-5s %s", mark, o.Verdict, c.Path)
		if why := o.Why(); why != "" {
			line += "  (" + why + ")"
		}
		if !o.Matched() {
			line += "  expected " + string(c.Expect)
		}
		fmt.Fprintln(w, line)
	}
	if failed > 0 {
		fmt.Fprintf(w, "%d of %d cases did not get their expected verdict\n", failed, len(cases))
		return ExitMismatch
	}
	fmt.Fprintf(w, "all %d cases got their expected verdict\n", len(cases))
	return ExitMatched
}
