// Package pipeline runs one notification through payguard's stages, in the
// order of DESIGN.md section 2: admit, read, verify, fresh, claim, query,
// order, policy, forward, acknowledge, audit. Cheap checks come first,
// nothing leaves the sidecar before the signature holds, and the shop sees
// only what passed every stage.
//
// The package knows nothing of Caddy: it is given the request's method,
// path, headers, body and client IP, and a Forwarder that reaches the shop,
// and it returns the response for the provider and the audit record.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// The headers payguard sets on what it forwards (DESIGN.md section 4).
const (
	HeaderPrefix           = "Payguard-"
	HeaderProvider         = "Payguard-Provider"
	HeaderEventID          = "Payguard-Event-Id"
	HeaderOutTradeNo       = "Payguard-Out-Trade-No"
	HeaderTransactionID    = "Payguard-Transaction-Id"
	HeaderAmount           = "Payguard-Amount"
	HeaderCurrency         = "Payguard-Currency"
	HeaderStatus           = "Payguard-Status"
	HeaderQuery            = "Payguard-Query"
	HeaderDuplicatePayment = "Payguard-Duplicate-Payment"
	HeaderRefundAmount     = "Payguard-Refund-Amount"
	HeaderRefundID         = "Payguard-Refund-Id"
	HeaderReason           = "Payguard-Reason"
)

// Defaults of the handler options (DESIGN.md section 3).
const (
	DefaultMaxBody    = 64 << 10
	DefaultTolerance  = 5 * time.Minute
	DefaultDedupTTL   = 72 * time.Hour
	DefaultClaimLease = 30 * time.Second
	// DefaultForwardTimeout bounds the wait for the shop's answer.
	DefaultForwardTimeout = 60 * time.Second
	DefaultQueryCache     = 30 * time.Second
)

// ForwardMode says what body the shop receives.
type ForwardMode int

const (
	// ForwardOriginal sends the provider's raw body unchanged.
	ForwardOriginal ForwardMode = iota
	// ForwardNormalized sends payguard's normalized JSON.
	ForwardNormalized
)

// Outcome is the audit record's outcome word.
type Outcome = audit.Outcome

// The audit outcomes of DESIGN.md section 5.
const (
	OutcomeForwarded = audit.Forwarded
	OutcomeRejected  = audit.Rejected
	OutcomeDuplicate = audit.Duplicate
	OutcomeFailed    = audit.Failed
)

// Config is one route's pipeline. Provider and Store are required.
type Config struct {
	Provider provider.Provider
	Store    store.Store
	// Querier confirms the notification with the provider; nil skips the
	// query stage (Payguard-Query: skipped).
	Querier    provider.Querier
	QueryCache time.Duration
	// OrderLookup and Policies are the later stages' slots; nil and empty
	// let every notification pass them.
	OrderLookup OrderLookup
	Policies    []Policy

	AllowIPs   []netip.Prefix // empty: any source
	MaxBody    int64
	Tolerance  time.Duration
	DedupTTL   time.Duration
	ClaimLease time.Duration
	// MaxAge is the oldest signed event time accepted where the provider
	// signs no send time (Verified.EventTime); default DedupTTL, so that no
	// replay older than the store's memory of the event is delivered.
	MaxAge time.Duration
	// ForwardTimeout bounds the wait for the shop; the claim's lease is
	// renewed meanwhile. After it the forward is cancelled, the claim
	// released, and the answer is 502 upstream_failed.
	ForwardTimeout time.Duration
	Forward        ForwardMode
	// UpstreamSecrets sign what is forwarded in the Standard Webhooks
	// format; several give several signatures (secret rotation at the shop).
	UpstreamSecrets [][]byte
	// OrderNamespace groups routes for duplicate-payment detection; empty
	// means the provider and the notification's merchant (two apps behind
	// one payguard never share an order's memory).
	OrderNamespace string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Observer, when set, is told when each stage starts and ends: the
	// hook for metrics and traces. nil costs nothing.
	Observer Observer
	// AuditRedact names the body fields masked in the audit record, beside
	// audit.AlwaysRedacted.
	AuditRedact []string
	// SkipAudit leaves Result.Audit nil (no sink configured), sparing the
	// body's redaction.
	SkipAudit bool
	// Hook is lost-callback recovery's part (hook.go); nil: none.
	Hook Hook
	// CompleteWait bounds the retries of a done record the store does not
	// take once the shop accepted; default DefaultCompleteWait. After it
	// the provider is answered store_unavailable and the record is
	// retried in the background (pending.go).
	CompleteWait time.Duration
}

// Incoming is the request as the server received it. RemoteIP is the
// server's own client-IP resolution (trusted proxies honoured), never a
// raw X-Forwarded-For.
type Incoming struct {
	Method        string
	Path          string
	RawQuery      string
	Header        http.Header
	Body          io.Reader
	ContentLength int64 // -1 when unknown
	RemoteIP      netip.Addr
}

// Outgoing is the sanitized request for the shop: the incoming headers
// without any Payguard-* header a client sent, plus payguard's own.
type Outgoing struct {
	Header http.Header
	Body   []byte
	// Passthrough is set on routes that are never acknowledged (the
	// provider's Traits say so, and the pipeline alone decides): the
	// Forwarder writes the shop's answer to the client itself, and the
	// Response is then Written.
	Passthrough bool
	// headerVals holds Header's values where they fit (cloneWithRoom):
	// allocated with the delivery, not on their own.
	headerVals [outgoingHeaderVals]string
}

// outgoingHeaderVals is the room for header values an Outgoing carries:
// payguard's own (ownHeaderCount) and the few a provider's request has.
const outgoingHeaderVals = 24

// Forwarder delivers to the shop and returns the shop's answer. An error
// means no answer (the shop unreachable, the request cancelled). It must
// give up promptly once ctx is done: that is how forward_timeout ends a
// forward.
type Forwarder func(ctx context.Context, out *Outgoing) (Answer, error)

// Answer is the shop's answer as the Forwarder captured it.
type Answer struct {
	Status int
	Header http.Header
	// Body is at most MaxAnswerBody bytes of the shop's body: enough to
	// judge a legacy handler's "success" or <return_code>, never more.
	Body []byte
}

// MaxAnswerBody bounds what a Forwarder keeps of the shop's body.
const MaxAnswerBody = 64 << 10

// Response is the answer to the provider.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Written is true when the Forwarder already wrote the shop's answer
	// (passthrough routes): nothing is left to write.
	Written bool
}

// Result is everything the caller needs after one notification.
type Result struct {
	Response     Response
	Code         reason.Code
	Outcome      Outcome
	Notification *notification.Notification // nil before verification
	Query        *provider.QueryResult
	DuplicateOf  string
	Policy       string // the denying policy's name
	// Err carries the detail of a rejection or failure, for the log. It
	// never holds a secret.
	Err      error
	Body     []byte // the raw body as read
	Duration time.Duration
	// Audit is the notification's audit record (DESIGN.md section 5), the
	// body masked; nil when Config.SkipAudit.
	Audit *audit.Record
}

// Pipeline runs notifications through the stages of one configured route.
type Pipeline struct {
	cfg     Config
	name    string
	traits  provider.Traits
	orderNS string
	queries *queryCache
	// orderByPolicy: a policy reads `order`, so the policies decide and
	// the default order check is off (DESIGN.md section 5).
	orderByPolicy bool
	judge         provider.AnswerJudge // nil: a 2xx is accepted
	pending       *pending

	// dupByPolicy: a policy reads notification.duplicate_of, so the policy
	// stage reads the order's paid transaction from the store.
	dupByPolicy bool
	// allPolicies: the compiled policies as one program, for the
	// notification they all allow (nil with fewer than two).
	allPolicies *policy.Conjunction
	// redactor masks the audit record's body: audit_redact read once.
	redactor *audit.Redactor
	// merchantNS is the order namespace of the first merchant seen
	// (orderNamespace), nil before.
	merchantNS atomic.Pointer[merchantNamespace]
	// paymentAtClaim: no query, order lookup or policy can refuse a
	// claimed notification, so its paid transaction is recorded with the
	// claim (one store step) rather than just before the forward, unless
	// the recovery hook guards its namespace (recordsAtClaim).
	paymentAtClaim bool
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Provider == nil {
		return nil, errors.New("pipeline: no provider")
	}
	if cfg.Store == nil {
		return nil, errors.New("pipeline: no store")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.DedupTTL <= 0 {
		cfg.DedupTTL = DefaultDedupTTL
		if d := cfg.Provider.Traits().DefaultDedupTTL; d > 0 {
			cfg.DedupTTL = d
		}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = cfg.DedupTTL
	}
	if cfg.ClaimLease <= 0 {
		cfg.ClaimLease = DefaultClaimLease
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.QueryCache < 0 {
		cfg.QueryCache = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CompleteWait <= 0 {
		cfg.CompleteWait = DefaultCompleteWait
	}
	p := &Pipeline{cfg: cfg, name: cfg.Provider.Name(), traits: cfg.Provider.Traits(), pending: newPending(cfg.DedupTTL)}
	if j, ok := cfg.Provider.(provider.AnswerJudge); ok && cfg.Forward == ForwardOriginal {
		// The legacy handler answers in the provider's format: its own
		// "please retry" must count as one.
		p.judge = j
	}
	if p.traits.Method == "" {
		p.traits.Method = http.MethodPost
	}
	p.orderNS = cfg.OrderNamespace
	p.redactor = audit.NewRedactor(cfg.AuditRedact)
	if cfg.Querier != nil {
		p.queries = newQueryCache(cfg.Querier, cfg.QueryCache, cfg.Now)
	}
	p.orderByPolicy = anyPolicy(cfg.Policies, readsOrder)
	p.dupByPolicy = anyPolicy(cfg.Policies, readsDuplicateOf)
	p.allPolicies = joinPolicies(cfg.Policies)
	p.paymentAtClaim = cfg.Querier == nil && cfg.OrderLookup == nil && len(cfg.Policies) == 0
	return p, nil
}

// Handle runs one notification through every stage and returns the
// response to write and the audit record.
func (p *Pipeline) Handle(ctx context.Context, in *Incoming, forward Forwarder) *Result {
	start := p.cfg.Now()
	// The audit record masks the body as it arrived, whatever the forward
	// does to the headers.
	contentType := in.Header.Get("Content-Type")
	var h *handling
	var rec *audit.Record
	if p.cfg.SkipAudit {
		h = &handling{}
	} else {
		a := &auditedHandling{}
		h, rec = &a.handling, &a.audit
	}
	res := &h.res
	p.run(ctx, in, forward, &h.d, res)
	p.after(ctx, res)
	res.Duration = p.cfg.Now().Sub(start)
	if res.Response.Header == nil {
		res.Response.Header = http.Header{}
	}
	if v := res.Response.Header[HeaderReason]; !res.Response.Written && (len(v) != 1 || v[0] != string(res.Code)) {
		res.Response.Header.Set(HeaderReason, string(res.Code))
	}
	if rec != nil {
		p.auditRecord(ctx, rec, res, in.RemoteIP, contentType, start)
		res.Audit = rec
	}
	return res
}

func (p *Pipeline) ipAllowed(ip netip.Addr) bool {
	if len(p.cfg.AllowIPs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, pfx := range p.cfg.AllowIPs {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}

// reject ends the notification with a refusal: the provider's failure
// acknowledgement with the contract's status for the reason.
func (p *Pipeline) reject(res *Result, err error, vals *ackValues) {
	code := reason.CodeOf(err, reason.Malformed)
	res.Code, res.Err = code, err
	res.Outcome = OutcomeRejected
	if reason.Retryable(code) {
		res.Outcome = OutcomeFailed
	}
	res.Response = p.ack(false, code, vals)
	if code == reason.MethodNotAllowed {
		res.Response.Header.Set("Allow", p.traits.Method)
	}
}

// ack is the provider's answer for code, its headers already holding
// Payguard-Reason (Handle sets it on every answer it writes) and room for
// an Allow: their values from vals, the delivery's own (one notification
// is answered once).
func (p *Pipeline) ack(ok bool, code reason.Code, vals *ackValues) Response {
	a := p.cfg.Provider.Acknowledge(ok, code, reason.HTTPStatus(code))
	h := make(http.Header, 3)
	n := 0
	if a.ContentType != "" {
		vals[0] = a.ContentType
		h["Content-Type"] = vals[0:1:1]
		n = 1
	}
	vals[n] = string(code)
	h[HeaderReason] = vals[n : n+1 : n+1]
	if a.Status == 0 {
		a.Status = reason.HTTPStatus(code)
	}
	return Response{Status: a.Status, Header: h, Body: a.Body}
}

// ackValues are the values of an answer's headers (ack), allocated with
// the delivery.
type ackValues [2]string

// StripPayguardHeaders removes every Payguard-* header, so that their
// presence at the shop proves payguard set them. Names are matched as CGI
// and FastCGI read them (PHP's $_SERVER, ...): without case, and with '_'
// as '-', since "Payguard_Amount" reaches such a shop as HTTP_PAYGUARD_AMOUNT
// beside payguard's own Payguard-Amount.
func StripPayguardHeaders(h http.Header) {
	for k := range h {
		if hasHeaderPrefix(k, HeaderPrefix) {
			delete(h, k)
		}
	}
}

// hasHeaderPrefix reports whether name starts with prefix, case folded
// and '_' read as '-'.
func hasHeaderPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		if c == '_' {
			c = '-'
		}
		if lower(c) != lower(prefix[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// deleteHeaderVariants removes name and every spelling of it a CGI shop
// reads as the same header (case, '_' for '-').
func deleteHeaderVariants(h http.Header, name string) {
	for k := range h {
		if len(k) == len(name) && hasHeaderPrefix(k, name) {
			delete(h, k)
		}
	}
}

// readBody reads at most max bytes of r. declared is the request's
// Content-Length (-1 when unknown): a body within max is read into one
// buffer of that size and a byte to spare (for the read that sees EOF),
// so a notification costs one allocation and a few reads, not a buffer
// doubled from 512 bytes. The declared length is only a size hint: a body
// longer or shorter than it is read as it is, and the limit holds. The
// hint is believed up to maxBodyHint, so that a sender declaring a large
// body and sending nothing holds no more memory than a notification.
func readBody(r io.Reader, max, declared int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	size := int64(bytes.MinRead)
	if declared >= 0 && declared <= max {
		size = min(declared, maxBodyHint) + 1
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // room for the next read: append's growth
		}
		// Never read past max+1 bytes: one more than max says too large.
		room := b[len(b):min(int64(cap(b)), max+1)]
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			return nil, reason.New(reason.BodyTooLarge, "body over max_body %d", max)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, reason.New(reason.BodyTooLarge, "body over max_body %d", max)
			}
			return nil, reason.Wrap(reason.Malformed, err, "read body")
		}
	}
}

// maxBodyHint is the largest declared length readBody allocates up front:
// above any provider's notification (a few KiB), far below max_body's 1GiB.
const maxBodyHint = 16 << 10

func asReasonError(err error, def reason.Code) error {
	var re *reason.Error
	if errors.As(err, &re) {
		return err
	}
	return reason.Wrap(def, err, "")
}

// accepted is DESIGN.md section 2 step 10: with forward original and a
// provider whose legacy handlers answer in its format, the provider's own
// rule; otherwise a 2xx.
func (p *Pipeline) accepted(a Answer) error {
	if a.Status < 200 || a.Status > 299 {
		return fmt.Errorf("shop answered %d", a.Status)
	}
	if p.judge != nil && !p.judge.Accepted(a.Status, a.Header, a.Body) {
		return fmt.Errorf("shop answered %d with the provider's failure (or an unknown) answer", a.Status)
	}
	return nil
}

// formatAmount is the Payguard-Amount value.
func formatAmount(v int64) string { return strconv.FormatInt(v, 10) }

// DedupTTL is the route's effective dedup_ttl, defaults applied.
func (p *Pipeline) DedupTTL() time.Duration { return p.cfg.DedupTTL }

// MaxAge is the route's effective max_age.
func (p *Pipeline) MaxAge() time.Duration { return p.cfg.MaxAge }

// orderNamespace is where n's order is remembered for duplicate-payment
// detection: the configured order_namespace, else the provider and the
// merchant the notification is addressed to (DESIGN.md section 3).
func (p *Pipeline) orderNamespace(n *notification.Notification) string {
	if p.orderNS != "" || n.Merchant == "" {
		return Namespace(p.orderNS, p.name, n.Merchant) // no string built
	}
	// A route's notifications are addressed to its one merchant: the
	// first one's namespace is kept, not concatenated per notification.
	if c := p.merchantNS.Load(); c != nil && c.merchant == n.Merchant {
		return c.ns
	}
	ns := Namespace(p.orderNS, p.name, n.Merchant)
	p.merchantNS.CompareAndSwap(nil, &merchantNamespace{merchant: n.Merchant, ns: ns})
	return ns
}

// merchantNamespace is a merchant's order namespace, as Namespace builds it.
type merchantNamespace struct{ merchant, ns string }

// Traits are the provider's traits this pipeline runs with.
func (p *Pipeline) Traits() provider.Traits { return p.traits }

// Provider is the configured provider.
func (p *Pipeline) Provider() provider.Provider { return p.cfg.Provider }

// ProviderName is the configured provider's name.
func (p *Pipeline) ProviderName() string { return p.name }
