package policy

import (
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/payguard/payguard/internal/notification"
)

// activation resolves the four variables of one input, each built only
// when an expression first names it (a policy that reads the amount pays
// nothing for the request headers) and kept for the input's other
// policies.
type activation struct {
	in  *Input
	now func() time.Time

	n     *celNotification
	q     any
	o     any
	req   *celRequest
	qDone bool
	oDone bool
}

// newActivation is the input's activation, shared by its policies.
func newActivation(in *Input, now func() time.Time) *activation {
	if in.vars == nil {
		in.vars = &activation{in: in, now: now}
	}
	return in.vars
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varNotification:
		if a.n == nil {
			a.n = notificationVar(a.in.Notification, a.in.DuplicateOf)
		}
		return a.n, true
	case varQuery:
		if !a.qDone {
			a.q, a.qDone = types.NullValue, true
			if q := a.in.Query; q != nil {
				a.q = &celQuery{Status: string(q.Status), Amount: q.Amount, Currency: q.Currency}
			}
		}
		return a.q, true
	case varOrder:
		if !a.oDone {
			a.o, a.oDone = types.NullValue, true
			if o := a.in.Order; o != nil {
				a.o = &celOrder{Amount: o.Amount, Currency: o.Currency, Status: o.Status}
			}
		}
		return a.o, true
	case varRequest:
		if a.req == nil {
			a.req = a.requestVar()
		}
		return a.req, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) requestVar() *celRequest {
	r := &celRequest{Path: a.in.Path, Time: a.in.Time, Headers: HeaderMap(a.in.Header)}
	if a.in.RemoteIP.IsValid() {
		r.RemoteIP = a.in.RemoteIP.String()
	}
	if r.Time.IsZero() {
		r.Time = a.now()
	}
	r.Time = r.Time.UTC()
	return r
}

// notificationVar is the notification as policies see it: the names and
// values of the `forward normalized` JSON (DESIGN.md section 4).
func notificationVar(n *notification.Notification, duplicateOf string) *celNotification {
	if n == nil {
		n = &notification.Notification{}
	}
	c := &celNotification{
		ID: n.EventID, Provider: n.Provider, Type: n.Type,
		OutTradeNo: n.OutTradeNo, TransactionID: n.TransactionID,
		Amount: n.Amount, Currency: n.Currency, Status: string(n.Status),
		OccurredAt: n.OccurredAt.UTC(), RefundAmount: n.RefundAmount, RefundID: n.RefundID,
		DuplicateOf: duplicateOf, Raw: n.Raw,
	}
	if c.Type == "" {
		c.Type = notification.TypeFor(n.Status)
	}
	if c.Raw == nil {
		c.Raw = map[string]any{}
	}
	return c
}
