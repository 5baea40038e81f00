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
	"strings"
	"time"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/notification"
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
	HeaderReason           = "Payguard-Reason"
)

// Defaults of the handler options (DESIGN.md section 3).
const (
	DefaultMaxBody    = 64 << 10
	DefaultTolerance  = 5 * time.Minute
	DefaultDedupTTL   = 72 * time.Hour
	DefaultClaimLease = 30 * time.Second
	DefaultQueryCache = 30 * time.Second
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
	Forward    ForwardMode
	// UpstreamSecrets sign what is forwarded in the Standard Webhooks
	// format; several give several signatures (secret rotation at the shop).
	UpstreamSecrets [][]byte
	// OrderNamespace groups routes for duplicate-payment detection; empty
	// means the provider's name.
	OrderNamespace string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Observer, when set, is told when each stage starts and ends: the
	// hook for metrics and traces. nil costs nothing.
	Observer Observer
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
}

// Forwarder delivers to the shop and returns the shop's status code. In a
// passthrough route it also writes the shop's answer to the client itself.
type Forwarder func(ctx context.Context, out *Outgoing) (status int, err error)

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
	Body     []byte // the raw body, for the audit record
	Duration time.Duration
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
	}
	if cfg.ClaimLease <= 0 {
		cfg.ClaimLease = DefaultClaimLease
	}
	if cfg.QueryCache < 0 {
		cfg.QueryCache = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline{cfg: cfg, name: cfg.Provider.Name(), traits: cfg.Provider.Traits()}
	if p.traits.Method == "" {
		p.traits.Method = http.MethodPost
	}
	p.orderNS = cfg.OrderNamespace
	if p.orderNS == "" {
		p.orderNS = p.name
	}
	if cfg.Querier != nil {
		p.queries = newQueryCache(cfg.Querier, cfg.QueryCache, cfg.Now)
	}
	p.orderByPolicy = policiesDecideOrder(cfg.Policies)
	return p, nil
}

// Handle runs one notification through every stage.
func (p *Pipeline) Handle(ctx context.Context, in *Incoming, forward Forwarder) *Result {
	start := p.cfg.Now()
	res := &Result{}
	p.run(ctx, in, forward, res)
	res.Duration = p.cfg.Now().Sub(start)
	if res.Response.Header == nil {
		res.Response.Header = http.Header{}
	}
	if !res.Response.Written {
		res.Response.Header.Set(HeaderReason, string(res.Code))
	}
	return res
}

func (p *Pipeline) run(ctx context.Context, in *Incoming, forward Forwarder, res *Result) {
	// Each stage runs with the context its observer gave it (sctx); the
	// last stage entered is ended with the notification's reason.
	stages := stageRun{obs: p.cfg.Observer, parent: ctx}
	defer stages.finish(res)

	// 1. admit
	stages.enter(StageAdmit)
	StripPayguardHeaders(in.Header)
	if in.Method != p.traits.Method {
		p.reject(res, reason.New(reason.MethodNotAllowed, "%s on a %s route", in.Method, p.traits.Method))
		res.Response.Header.Set("Allow", p.traits.Method)
		return
	}
	if in.ContentLength > p.cfg.MaxBody {
		p.reject(res, reason.New(reason.BodyTooLarge, "Content-Length %d over max_body %d", in.ContentLength, p.cfg.MaxBody))
		return
	}
	if !p.ipAllowed(in.RemoteIP) {
		p.reject(res, reason.New(reason.IPNotAllowed, "source %s not in allow_ips", in.RemoteIP))
		return
	}

	// 2. read, once, at most max_body bytes
	stages.enter(StageRead)
	body, err := readBody(in.Body, p.cfg.MaxBody)
	res.Body = body
	if err != nil {
		p.reject(res, err)
		return
	}

	// 3. verify
	stages.enter(StageVerify)
	v, err := p.cfg.Provider.VerifyNotify(&provider.Request{
		Method: in.Method, Path: in.Path, RawQuery: in.RawQuery,
		Header: in.Header, Body: body, Now: p.cfg.Now(),
	})
	if err != nil {
		p.reject(res, asReasonError(err, reason.Malformed))
		return
	}
	n := v.Notification
	n.Provider = p.name
	res.Notification = &n

	if p.traits.Passthrough {
		p.passthrough(stages.enter(StageForward), in, body, forward, res)
		return
	}

	// 4. fresh
	sctx := stages.enter(StageFresh)
	if err := p.checkFresh(sctx, v); err != nil {
		p.reject(res, err)
		return
	}

	// 5. claim
	sctx = stages.enter(StageClaim)
	if n.EventID == "" {
		p.reject(res, reason.New(reason.Malformed, "notification has no event id"))
		return
	}
	claim, err := p.cfg.Store.ClaimEvent(sctx, p.name, n.EventID, p.cfg.ClaimLease)
	switch {
	case err != nil:
		p.reject(res, reason.Wrap(reason.StoreUnavailable, err, "claim"))
		return
	case claim.State == store.Done:
		res.Code, res.Outcome = reason.Duplicate, OutcomeDuplicate
		res.Response = p.ack(true, reason.Duplicate)
		return
	case claim.State == store.InFlight:
		p.reject(res, reason.New(reason.InFlight, "event %s is being delivered by another request", n.EventID))
		return
	}
	// From here on the claim is ours: every path either completes it or
	// releases it, so the provider's retry can deliver what we did not.
	completed := false
	defer func() {
		if !completed {
			// The stage that stopped the notification ends here: the
			// release is cleanup, not part of its work.
			stages.finish(res)
			// A background context: the request's may be cancelled, and a
			// claim left in flight would block retries for claim_lease.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = p.cfg.Store.ReleaseEvent(rctx, p.name, n.EventID, claim.Token)
		}
	}()

	// 6. query
	if p.queries != nil {
		sctx = stages.enter(StageQuery)
		q, err := p.queries.confirm(sctx, p.name, &n)
		res.Query = q
		if err != nil {
			p.reject(res, asReasonError(err, reason.QueryUnavailable))
			return
		}
	}

	// 7. order
	var order *Order
	if p.cfg.OrderLookup != nil {
		sctx = stages.enter(StageOrder)
		order, err = p.cfg.OrderLookup.LookupOrder(sctx, n.OutTradeNo)
		if err == nil && !p.orderByPolicy {
			err = checkOrder(&n, order)
		}
		if err != nil {
			p.reject(res, asReasonError(err, reason.QueryUnavailable))
			return
		}
	}

	// 8. policy
	if len(p.cfg.Policies) > 0 {
		sctx = stages.enter(StagePolicy)
		in := &PolicyInput{Notification: &n, Query: res.Query, Order: order,
			RemoteIP: in.RemoteIP, Header: in.Header, Path: in.Path, Time: p.cfg.Now()}
		if err := p.checkPolicies(sctx, in, res); err != nil {
			p.reject(res, err)
			return
		}
	}

	// 9. forward
	//
	// Duplicate payment: a second, different paid transaction for an order
	// already paid is still forwarded (the money moved), flagged so the shop
	// can refund it.
	sctx = stages.enter(StageForward)
	if n.Status == notification.StatusPaid && n.OutTradeNo != "" && n.TransactionID != "" {
		earlier, err := p.cfg.Store.RecordPayment(sctx, p.orderNS, n.OutTradeNo, n.TransactionID, p.cfg.DedupTTL)
		if err != nil {
			p.reject(res, reason.Wrap(reason.StoreUnavailable, err, "record payment"))
			return
		}
		res.DuplicateOf = earlier
	}

	out, err := p.outgoing(in.Header, body, &n, res.Query, res.DuplicateOf)
	if err != nil {
		p.reject(res, reason.Wrap(reason.UpstreamFailed, err, "build forwarded request"))
		return
	}
	status, err := forward(sctx, out)
	if err != nil || status < 200 || status > 299 {
		if err == nil {
			err = fmt.Errorf("shop answered %d", status)
		}
		p.fail(res, reason.Wrap(reason.UpstreamFailed, err, "forward"))
		return
	}

	// 10. acknowledge: only what the shop accepted.
	sctx = stages.enter(StageAcknowledge)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(sctx), 5*time.Second)
	defer cancel()
	if err := p.cfg.Store.CompleteEvent(cctx, p.name, n.EventID, claim.Token, p.cfg.DedupTTL); err != nil {
		// The shop has it: acknowledging is right, or the provider would
		// deliver it again. The lease expiring un-done only matters if the
		// provider resends anyway; record why.
		res.Err = reason.Wrap(reason.StoreUnavailable, err, "complete after delivery")
	}
	completed = true
	res.Code, res.Outcome = reason.Forwarded, OutcomeForwarded
	res.Response = p.ack(true, reason.Forwarded)
}

// passthrough forwards a verified request that is never claimed, queried or
// acknowledged: the shop's own answer goes back as it is.
func (p *Pipeline) passthrough(ctx context.Context, in *Incoming, body []byte, forward Forwarder, res *Result) {
	out, err := p.outgoing(in.Header, body, res.Notification, nil, "")
	if err != nil {
		p.fail(res, reason.Wrap(reason.UpstreamFailed, err, "build forwarded request"))
		return
	}
	status, err := forward(ctx, out)
	if err != nil {
		p.fail(res, reason.Wrap(reason.UpstreamFailed, err, "forward"))
		return
	}
	res.Code, res.Outcome = reason.Forwarded, OutcomeForwarded
	res.Response = Response{Status: status, Written: true}
}

func (p *Pipeline) checkFresh(ctx context.Context, v *provider.Verified) error {
	now := p.cfg.Now()
	if !v.Timestamp.IsZero() {
		// Both directions: a timestamp far in the future is as suspect as an
		// old one.
		d := now.Sub(v.Timestamp)
		if d > p.cfg.Tolerance || d < -p.cfg.Tolerance {
			return reason.New(reason.StaleTimestamp, "signed timestamp %s is %s from now, over tolerance %s",
				v.Timestamp.UTC().Format(time.RFC3339), d.Round(time.Second), p.cfg.Tolerance)
		}
	}
	if v.Nonce != "" {
		// A nonce must be remembered for as long as its timestamp could
		// still pass the window: the window spans tolerance either side.
		fresh, err := p.cfg.Store.RecordNonce(ctx, p.name, v.Nonce, 2*p.cfg.Tolerance)
		if err != nil {
			return reason.Wrap(reason.StoreUnavailable, err, "record nonce")
		}
		if !fresh {
			return reason.New(reason.ReplayedNonce, "nonce seen within the replay window")
		}
	}
	return nil
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
func (p *Pipeline) reject(res *Result, err error) {
	code := reason.CodeOf(err, reason.Malformed)
	res.Code, res.Err = code, err
	res.Outcome = OutcomeRejected
	if reason.Retryable(code) {
		res.Outcome = OutcomeFailed
	}
	res.Response = p.ack(false, code)
}

// fail is reject for failures on our side of the delivery.
func (p *Pipeline) fail(res *Result, err error) {
	p.reject(res, err)
	res.Outcome = OutcomeFailed
}

func (p *Pipeline) ack(ok bool, code reason.Code) Response {
	a := p.cfg.Provider.Acknowledge(ok, code, reason.HTTPStatus(code))
	h := http.Header{}
	if a.ContentType != "" {
		h.Set("Content-Type", a.ContentType)
	}
	if a.Status == 0 {
		a.Status = reason.HTTPStatus(code)
	}
	return Response{Status: a.Status, Header: h, Body: a.Body}
}

// StripPayguardHeaders removes every Payguard-* header, so that their
// presence at the shop proves payguard set them.
func StripPayguardHeaders(h http.Header) {
	for k := range h {
		if len(k) >= len(HeaderPrefix) && strings.EqualFold(k[:len(HeaderPrefix)], HeaderPrefix) {
			delete(h, k)
		}
	}
}

func readBody(r io.Reader, max int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, reason.New(reason.BodyTooLarge, "body over max_body %d", max)
		}
		return nil, reason.Wrap(reason.Malformed, err, "read body")
	}
	if n > max {
		return nil, reason.New(reason.BodyTooLarge, "body over max_body %d", max)
	}
	return buf.Bytes(), nil
}

func asReasonError(err error, def reason.Code) error {
	var re *reason.Error
	if errors.As(err, &re) {
		return err
	}
	return reason.Wrap(def, err, "")
}

// formatAmount is the Payguard-Amount value.
func formatAmount(v int64) string { return strconv.FormatInt(v, 10) }

// Traits are the provider's traits this pipeline runs with.
func (p *Pipeline) Traits() provider.Traits { return p.traits }

// ProviderName is the configured provider's name.
func (p *Pipeline) ProviderName() string { return p.name }
