package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// errStop ends a delivery whose Result the stage has already set (a
// duplicate, acknowledged without a forward): not a rejection.
var errStop = errors.New("pipeline: stop")

// delivery is one notification on its way through the stages: what each
// stage learnt and the next one needs. Each stage is one method; a non-nil
// error ends the delivery (a rejection or failure, or errStop).
type delivery struct {
	p       *Pipeline
	ctx     context.Context // the request's
	in      *Incoming
	forward Forwarder
	res     *Result
	stages  stageRun
	sctx    context.Context // the open stage's, from its observer

	body []byte
	v    *provider.Verified
	n    *notification.Notification // &note once verified
	// incoming, note, req, out and payment are a copy of the request (its
	// header the caller's map), the notification, the provider's request,
	// the shop's request and the claim's payment, allocated with the
	// delivery rather than one by one; the caller's Incoming can stay on
	// its stack.
	incoming Incoming
	note     notification.Notification
	req      provider.Request
	out      Outgoing
	payment  store.Payment
	claim    store.Claim
	order    *Order
	hold     *Hold // the hook's hold of the transaction's delivery record
	// completed is set once the claim is done; until then every ending
	// releases it, so the provider's retry can deliver what we did not.
	completed bool
	// paymentRecorded: the claim recorded the order's transaction too.
	paymentRecorded bool
	renewal         leaseRenewal // while the shop has the notification
	ackVals         ackValues    // the answer's header values (ack)
	// completeCtx is the context of the done record's first attempt
	// (retry): detached from the request, since the shop has the
	// notification, and bounded by complete_wait.
	completeCtx lazyDeadline
}

// enter ends the open stage (passed) and starts st.
func (d *delivery) enter(st Stage) { d.sctx = d.stages.enter(st) }

// handling is one notification's Result and the delivery that fills it,
// in one allocation.
type handling struct {
	res Result
	d   delivery
}

// auditedHandling is a handling with its audit record (Result.Audit), in
// one allocation too; a route without an audit sink (SkipAudit) has no
// record to hold.
type auditedHandling struct {
	handling
	audit audit.Record
}

// run is the order of DESIGN.md section 2.
func (p *Pipeline) run(ctx context.Context, in *Incoming, forward Forwarder, d *delivery, res *Result) {
	*d = delivery{p: p, ctx: ctx, sctx: ctx, incoming: *in, forward: forward, res: res,
		stages: stageRun{obs: p.cfg.Observer, parent: ctx}}
	d.in = &d.incoming
	defer d.stages.finish(res)
	if !d.each(d.admit, d.read, d.verify) {
		return
	}
	if p.traits.Passthrough {
		d.each(d.passthrough)
		return
	}
	if !d.each(d.completing, d.fresh, d.claimEvent) {
		return
	}
	defer d.releaseUnlessCompleted()
	d.each(d.query, d.lookupOrder, d.policy, d.guard, d.forwardToShop, d.acknowledge)
}

// each runs stages in order until one fails; it reports whether all passed.
func (d *delivery) each(stages ...func() error) bool {
	for _, stage := range stages {
		if err := stage(); err != nil {
			if err != errStop {
				d.p.reject(d.res, err, &d.ackVals)
			}
			return false
		}
	}
	return true
}

// admit: method, declared size, source address; the sender's Payguard-*,
// Connection-named and trailer headers go before anything else looks at
// the request.
func (d *delivery) admit() error {
	d.enter(StageAdmit)
	StripSenderHeaders(d.in.Header)
	p := d.p
	if d.in.Method != p.traits.Method {
		return &reason.Error{Code: reason.MethodNotAllowed, Detail: fmt.Sprintf("%s on a %s route", d.in.Method, p.traits.Method)}
	}
	if d.in.ContentLength > p.cfg.MaxBody {
		return reason.New(reason.BodyTooLarge, "Content-Length %d over max_body %d", d.in.ContentLength, p.cfg.MaxBody)
	}
	if !p.ipAllowed(d.in.RemoteIP) {
		return reason.New(reason.IPNotAllowed, "source %s not in allow_ips", d.in.RemoteIP)
	}
	return nil
}

// read takes the body once, at most max_body bytes.
func (d *delivery) read() error {
	d.enter(StageRead)
	body, err := readBody(d.in.Body, d.p.cfg.MaxBody, d.in.ContentLength)
	d.body, d.res.Body = body, body
	return err
}

// verify: the provider parses and authenticates.
func (d *delivery) verify() error {
	d.enter(StageVerify)
	d.req = provider.Request{
		Method: d.in.Method, Path: d.in.Path, RawQuery: d.in.RawQuery,
		Header: d.in.Header, Body: d.body, Now: d.p.cfg.Now(),
		ForwardOriginal: d.p.cfg.Forward == ForwardOriginal,
	}
	v, err := d.p.cfg.Provider.VerifyNotify(&d.req)
	if err != nil {
		return asReasonError(err, reason.Malformed)
	}
	d.v = v
	d.note = v.Notification
	n := &d.note
	n.Provider = d.p.name
	d.n, d.res.Notification = n, n
	if d.p.traits.Method != http.MethodGet && d.in.RawQuery != "" {
		// Where the message is the body, the URL query is unsigned. (Where
		// it is the query, as for a browser return, every parameter is
		// signed and a repeated one is the provider's to refuse.) Fields
		// are built only for a request that has a query.
		return checkQueryShadowing(d.in.RawQuery, n.Fields())
	}
	return nil
}

// passthrough forwards a verified request that is never claimed or
// acknowledged: the shop's own answer goes back as it is. Such a request
// (a browser's return) is no proof of payment: it says pending unless the
// provider's query confirms the trade paid.
func (d *delivery) passthrough() error {
	d.confirmPassthrough()
	d.enter(StageForward)
	out := &d.out
	if err := d.p.outgoing(out, d.in.Header, d.body, d.n, d.res.Query, ""); err != nil {
		return reason.Wrap(reason.UpstreamFailed, err, "build forwarded request")
	}
	out.Passthrough = true
	answer, err := d.forward(d.sctx, out)
	if err != nil {
		return reason.Wrap(reason.UpstreamFailed, err, "forward")
	}
	d.res.Code, d.res.Outcome = reason.Forwarded, OutcomeForwarded
	d.res.Response = Response{Status: answer.Status, Written: true}
	return nil
}

// confirmPassthrough asks the query, when there is one, whether a pending
// passthrough request's trade is paid for its amount. Only a confirmation
// changes anything: a query that fails or disagrees leaves it pending,
// since the shop's page must still be shown.
func (d *delivery) confirmPassthrough() {
	if d.p.queries == nil || d.n.Status != notification.StatusPending {
		return
	}
	d.enter(StageQuery)
	probe := *d.n
	probe.Status = notification.StatusPaid
	q, err := d.p.queries.confirm(d.sctx, d.p.name, &probe)
	if err != nil || q == nil {
		return
	}
	d.n.Status, d.n.Type = notification.StatusPaid, notification.TypeFor(notification.StatusPaid)
	d.res.Query = q
}

// fresh: the signed timestamp within tolerance. The signed nonce is
// recorded with the claim, in one store step (claimEvent).
func (d *delivery) fresh() error {
	d.enter(StageFresh)
	return d.p.checkTimes(d.v)
}

func (p *Pipeline) checkTimes(v *provider.Verified) error {
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
	if v.Timestamp.IsZero() && !v.EventTime.IsZero() {
		// No send time is signed, but the event's time is: a replay older
		// than max_age (the store's memory of the event, by default) must
		// not be delivered again. The future gets tolerance, as above.
		age := now.Sub(v.EventTime)
		if age > p.cfg.MaxAge || age < -p.cfg.Tolerance {
			return reason.New(reason.StaleTimestamp, "signed event time %s is %s old, max_age %s",
				v.EventTime.UTC().Format(time.RFC3339), age.Round(time.Second), p.cfg.MaxAge)
		}
	}
	return nil
}

// claimEvent records the signed nonce and moves the event absent →
// in_flight, and where no later stage can refuse the notification it
// records a paid order's transaction too: one store step, one round trip
// on Redis (store.Admission). A replayed nonce refuses before anything is
// claimed; a done event is acknowledged at once and not forwarded again.
func (d *delivery) claimEvent() error {
	d.enter(StageClaim)
	p, n := d.p, d.n
	a := store.Admission{NS: p.name, EventID: n.EventID, Lease: p.cfg.ClaimLease, Nonce: d.v.Nonce,
		// A nonce must be remembered for as long as its timestamp could
		// still pass the window: the window spans tolerance either side.
		NonceTTL: 2 * p.cfg.Tolerance}
	if n.EventID == "" {
		// Malformed, but the nonce is signed: it is recorded all the same,
		// as it always was.
		return p.recordNonceOnly(d.sctx, a)
	}
	if p.recordsAtClaim(n) {
		d.payment = store.Payment{NS: p.orderNamespace(n), OutTradeNo: n.OutTradeNo, TransactionID: n.TransactionID, TTL: p.cfg.DedupTTL}
		a.Payment = &d.payment
	}
	got, err := p.cfg.Store.AdmitEvent(d.sctx, a)
	switch {
	case err != nil && got.Claim.State == store.Claimed:
		// The claim was made, the payment not recorded (a store taking
		// the steps one by one): release it, as when RecordPayment failed
		// before the forward.
		d.release(got.Claim.Token)
		return reason.Wrap(reason.StoreUnavailable, err, "record payment")
	case err != nil:
		return reason.Wrap(reason.StoreUnavailable, err, "claim")
	case got.Replayed:
		return reason.New(reason.ReplayedNonce, "nonce seen within the replay window")
	case got.Claim.State == store.Done:
		d.res.Code, d.res.Outcome = reason.Duplicate, OutcomeDuplicate
		d.res.Response = p.ack(true, reason.Duplicate, &d.ackVals)
		return errStop
	case got.Claim.State == store.InFlight:
		return reason.New(reason.InFlight, "event %s is being delivered by another request", n.EventID)
	}
	d.claim = got.Claim
	d.paymentRecorded = a.Payment != nil
	d.res.DuplicateOf = got.DuplicateOf
	return nil
}

// recordsAtClaim reports whether n's paid transaction is recorded with
// its claim. Not where the recovery hook guards n's namespace: its
// BeforeForward may still refuse n (in_flight while a recovered delivery
// of the transaction is at the shop, duplicate when it was delivered as
// recovered, store_unavailable), and the duplicate-payment record is
// written only for a notification that passed every stage before the
// forward, so there the payment waits for the hook (forwardToShop).
func (p *Pipeline) recordsAtClaim(n *notification.Notification) bool {
	if !p.paymentAtClaim || n.Status != notification.StatusPaid || n.OutTradeNo == "" || n.TransactionID == "" {
		return false
	}
	return p.cfg.Hook == nil || !p.cfg.Hook.Guards(p.orderNamespace(n))
}

// recordNonceOnly is the claim stage of a notification without an event
// id: its nonce is recorded (or found replayed), then it is malformed.
func (p *Pipeline) recordNonceOnly(ctx context.Context, a store.Admission) error {
	if a.Nonce != "" {
		fresh, err := p.cfg.Store.RecordNonce(ctx, a.NS, a.Nonce, a.NonceTTL)
		if err != nil {
			return reason.Wrap(reason.StoreUnavailable, err, "record nonce")
		}
		if !fresh {
			return reason.New(reason.ReplayedNonce, "nonce seen within the replay window")
		}
	}
	return reason.New(reason.Malformed, "notification has no event id")
}

// releaseUnlessCompleted frees a claim the delivery did not complete.
func (d *delivery) releaseUnlessCompleted() {
	if d.completed {
		return
	}
	// The stage that stopped the notification ends here: the release is
	// cleanup, not part of its work.
	d.stages.finish(d.res)
	d.release(d.claim.Token)
}

// release frees the claim with token. A background context: the
// request's may be cancelled, and a claim left in flight would block
// retries for claim_lease.
func (d *delivery) release(token string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), storeCleanupTimeout)
	defer cancel()
	_ = d.p.cfg.Store.ReleaseEvent(rctx, d.p.name, d.n.EventID, token)
	d.releaseHold(rctx)
}

// storeCleanupTimeout bounds the store writes that run after the request's
// own context may be gone (release, complete).
const storeCleanupTimeout = 5 * time.Second

// query: the provider confirms the notification.
func (d *delivery) query() error {
	if d.p.queries == nil {
		return nil
	}
	d.enter(StageQuery)
	q, err := d.p.queries.confirm(d.sctx, d.p.name, d.n)
	d.res.Query = q
	if err != nil {
		return asReasonError(err, reason.QueryUnavailable)
	}
	return nil
}

// lookupOrder: the shop's own order record, for the amount check.
func (d *delivery) lookupOrder() error {
	if d.p.cfg.OrderLookup == nil {
		return nil
	}
	d.enter(StageOrder)
	order, err := d.p.cfg.OrderLookup.LookupOrder(d.sctx, d.n.OutTradeNo)
	if err == nil && !d.p.orderByPolicy {
		err = checkOrder(d.n, order)
	}
	if err != nil {
		return asReasonError(err, reason.QueryUnavailable)
	}
	d.order = order
	return nil
}

// policy: every configured program must allow.
func (d *delivery) policy() error {
	if len(d.p.cfg.Policies) == 0 {
		return nil
	}
	d.enter(StagePolicy)
	in := &PolicyInput{Notification: d.n, Query: d.res.Query, Order: d.order,
		RemoteIP: d.in.RemoteIP, Header: d.in.Header, Path: d.in.Path, Time: d.p.cfg.Now()}
	var err error
	if in.DuplicateOf, err = d.p.duplicateForPolicies(d.sctx, d.n); err != nil {
		return err
	}
	return d.p.checkPolicies(d.sctx, in, d.res)
}

// forwardToShop records a paid order's transaction and delivers the
// sanitized request.
//
// Duplicate payment: a second, different paid transaction for an order
// already paid is still forwarded (the money moved), flagged so the shop
// can refund it.
func (d *delivery) forwardToShop() error {
	d.enter(StageForward)
	p, n := d.p, d.n
	if !d.paymentRecorded && n.Status == notification.StatusPaid && n.OutTradeNo != "" && n.TransactionID != "" {
		earlier, err := p.cfg.Store.RecordPayment(d.sctx, p.orderNamespace(n), n.OutTradeNo, n.TransactionID, p.cfg.DedupTTL)
		if err != nil {
			return reason.Wrap(reason.StoreUnavailable, err, "record payment")
		}
		d.res.DuplicateOf = earlier
	}
	out := &d.out
	if err := p.outgoing(out, d.in.Header, d.body, n, d.res.Query, d.res.DuplicateOf); err != nil {
		return reason.Wrap(reason.UpstreamFailed, err, "build forwarded request")
	}
	answer, err := d.forwardRenewing(out)
	if err == nil {
		err = p.accepted(answer)
	}
	if err != nil {
		return reason.Wrap(reason.UpstreamFailed, err, "forward")
	}
	return nil
}

// forwardRenewing delivers within forward_timeout and renews the claim's
// lease while the shop has not answered, so no copy the provider sends
// meanwhile is claimed and forwarded a second time (a crashed instance
// renews nothing, and its claim still expires within claim_lease).
func (d *delivery) forwardRenewing(out *Outgoing) (Answer, error) {
	fctx, cancel := context.WithTimeout(d.sctx, d.p.cfg.ForwardTimeout)
	defer cancel()
	d.startRenewing()
	defer d.stopRenewing()
	answer, err := d.forward(fctx, out)
	if errors.Is(fctx.Err(), context.DeadlineExceeded) && d.sctx.Err() == nil {
		return Answer{}, fmt.Errorf("no answer within forward_timeout %s", d.p.cfg.ForwardTimeout)
	}
	return answer, err
}

// acknowledge: the shop accepted (Pipeline.accepted), so the event is
// done and the provider gets its success answer, once the store has the
// done record: written within complete_wait, retried with backoff while
// the store is away. Past it the provider is told store_unavailable (its
// retry then finds the record, or this process still writing it: a
// duplicate either way), and the record is kept in process and written
// when the store returns. The claim is never released now: the shop has
// the notification.
func (d *delivery) acknowledge() error {
	d.enter(StageAcknowledge)
	d.completed = true
	err := retry(d.sctx, true, &d.completeCtx, d.p.cfg.CompleteWait, d.complete)
	if err != nil {
		d.p.pending.add(d.n.EventID, d.complete)
		return reason.Wrap(reason.StoreUnavailable, err, "the shop accepted it, but the store did not take its done record (kept, written when the store returns)")
	}
	d.res.Code, d.res.Outcome = reason.Forwarded, OutcomeForwarded
	d.res.Response = d.p.ack(true, reason.Forwarded, &d.ackVals)
	return nil
}
