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
// policies. It lives inside its Input, the variables' structs too: one
// allocation per notification for the policy stage, however many policies
// and variables.
type activation struct {
	in  *Input
	now func() time.Time

	n     celNotification
	req   celRequest
	q     celQuery
	o     celOrder
	built uint8 // the variables built so far, a bit each
}

// The bits of activation.built.
const (
	builtNotification uint8 = 1 << iota
	builtQuery
	builtOrder
	builtRequest
)

// newActivation is the input's activation, shared by its policies.
func newActivation(in *Input, now func() time.Time) *activation {
	a := &in.vars
	if a.in == nil {
		a.in, a.now = in, now
	}
	return a
}

// first reports whether the variable is named for the first time.
func (a *activation) first(bit uint8) bool {
	if a.built&bit != 0 {
		return false
	}
	a.built |= bit
	return true
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varNotification:
		if a.first(builtNotification) {
			setNotificationVar(&a.n, a.in.Notification, a.in.DuplicateOf)
		}
		return &a.n, true
	case varQuery:
		q := a.in.Query
		if q == nil {
			return types.NullValue, true
		}
		if a.first(builtQuery) {
			a.q = celQuery{Status: string(q.Status), Amount: q.Amount, Currency: q.Currency}
		}
		return &a.q, true
	case varOrder:
		o := a.in.Order
		if o == nil {
			return types.NullValue, true
		}
		if a.first(builtOrder) {
			a.o = celOrder{Amount: o.Amount, Currency: o.Currency, Status: o.Status}
		}
		return &a.o, true
	case varRequest:
		if a.first(builtRequest) {
			a.setRequestVar()
		}
		return &a.req, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) setRequestVar() {
	r := &a.req
	*r = celRequest{Path: a.in.Path, Time: a.in.Time, Headers: HeaderMap(a.in.Header)}
	if a.in.RemoteIP.IsValid() {
		r.RemoteIP = a.in.RemoteIP.String()
	}
	if r.Time.IsZero() {
		r.Time = a.now()
	}
	r.Time = r.Time.UTC()
}

// setNotificationVar makes c the notification as policies see it: the names and
// values of the `forward normalized` JSON (DESIGN.md section 4).
func setNotificationVar(c *celNotification, n *notification.Notification, duplicateOf string) {
	if n == nil {
		n = &notification.Notification{}
	}
	*c = celNotification{
		ID: n.EventID, Provider: n.Provider, Type: n.Type,
		OutTradeNo: n.OutTradeNo, TransactionID: n.TransactionID,
		Amount: n.Amount, Currency: n.Currency, Status: string(n.Status),
		OccurredAt: n.OccurredAt.UTC(), RefundAmount: n.RefundAmount, RefundID: n.RefundID,
		DuplicateOf: duplicateOf, Raw: n.Fields(),
	}
	if c.Type == "" {
		c.Type = notification.TypeFor(n.Status)
	}
	if c.Raw == nil {
		c.Raw = map[string]any{}
	}
}
