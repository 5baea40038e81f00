package pipeline

import (
	"context"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/reason"
)

// Order is the shop's own record of an order (DESIGN.md section 5,
// order_lookup).
type Order = policy.Order

// OrderLookup fetches the shop's order record. A missing order is a
// reason.OrderMismatch error; an unreachable shop is reason.QueryUnavailable.
type OrderLookup interface {
	LookupOrder(ctx context.Context, outTradeNo string) (*Order, error)
}

// PolicyInput is what a policy sees (DESIGN.md section 7).
type PolicyInput = policy.Input

// Policy is one operator rule; every configured policy must allow.
// *policy.Program implements it.
type Policy interface {
	Name() string
	Allow(ctx context.Context, in *PolicyInput) (bool, error)
}

// OrderPolicy is implemented by policies that can tell whether they read
// the shop's order: when one does, the default order check is off and the
// policies decide (DESIGN.md section 5).
type OrderPolicy interface {
	ReferencesOrder() bool
}

// PolicyExplainer is implemented by policies that can say which of their
// conditions failed, for the log line of a denial.
type PolicyExplainer interface {
	Explain(ctx context.Context, in *PolicyInput) string
}

// DuplicatePolicy is implemented by policies that can tell whether they
// read notification.duplicate_of: only then does the policy stage read the
// order's paid transaction from the store (a round trip nobody else pays).
type DuplicatePolicy interface {
	ReferencesDuplicateOf() bool
}

// anyPolicy reports whether one of the configured policies reads what
// reads says it does (notification.duplicate_of, order), decided once at
// New so the per-request stages only test a flag.
func anyPolicy(pols []Policy, reads func(Policy) bool) bool {
	for _, p := range pols {
		if reads(p) {
			return true
		}
	}
	return false
}

func readsDuplicateOf(p Policy) bool {
	dp, ok := p.(DuplicatePolicy)
	return ok && dp.ReferencesDuplicateOf()
}

func readsOrder(p Policy) bool {
	op, ok := p.(OrderPolicy)
	return ok && op.ReferencesOrder()
}

// duplicateForPolicies is notification.duplicate_of for the policies: the
// transaction the order was already paid by, when it is another one than
// this paid notification's (the rule of forwardToShop's RecordPayment and
// its Payguard-Duplicate-Payment, read without recording anything: the
// payment is recorded only once every policy allowed). "" when no policy
// reads it. Two different transactions of one order arriving at once may
// both read ""; the record still flags the second to the shop.
func (p *Pipeline) duplicateForPolicies(ctx context.Context, n *notification.Notification) (string, error) {
	if !p.dupByPolicy || n.Status != notification.StatusPaid || n.OutTradeNo == "" || n.TransactionID == "" {
		return "", nil
	}
	earlier, err := p.cfg.Store.PaidTransaction(ctx, p.orderNamespace(n), n.OutTradeNo)
	if err != nil {
		return "", reason.Wrap(reason.StoreUnavailable, err, "read the order's paid transaction")
	}
	if earlier == n.TransactionID {
		return "", nil
	}
	return earlier, nil
}

// joinPolicies is the conjunction of two or more compiled policies (one
// CEL evaluation when all allow), nil when there are fewer or one is not a
// *policy.Program.
func joinPolicies(pols []Policy) *policy.Conjunction {
	if len(pols) < 2 {
		return nil
	}
	progs := make([]*policy.Program, len(pols))
	for i, pol := range pols {
		prog, ok := pol.(*policy.Program)
		if !ok {
			return nil
		}
		progs[i] = prog
	}
	all, err := policy.All(progs)
	if err != nil {
		return nil
	}
	return all
}

// checkPolicies is stage 8: every policy must allow. The first that does
// not, or that fails to evaluate (a denial too, never a pass), is named in
// res.Policy and the error is policy_denied.
func (p *Pipeline) checkPolicies(ctx context.Context, in *PolicyInput, res *Result) error {
	if p.allPolicies != nil && p.allPolicies.AllAllow(ctx, in) {
		return nil
	}
	for _, pol := range p.cfg.Policies {
		ok, err := pol.Allow(ctx, in)
		if err == nil && ok {
			continue
		}
		res.Policy = pol.Name()
		detail := "policy " + pol.Name() + " returned false"
		if ex, canExplain := pol.(PolicyExplainer); canExplain && err == nil {
			if why := ex.Explain(ctx, in); why != "" {
				detail = "policy " + pol.Name() + ": " + why
			}
		}
		if err != nil {
			detail = "policy " + pol.Name() + ": " + err.Error()
		}
		return &reason.Error{Code: reason.PolicyDenied, Detail: detail, Err: err}
	}
	return nil
}

// checkOrder applies the default order rule: amount and currency must equal
// the notification's.
func checkOrder(n *notification.Notification, o *Order) error {
	if o == nil {
		return reason.New(reason.OrderMismatch, "no such order at the shop")
	}
	if o.Amount != n.Amount || (o.Currency != "" && o.Currency != n.Currency) {
		return reason.New(reason.OrderMismatch, "shop's order is %d %s, notification says %d %s", o.Amount, o.Currency, n.Amount, n.Currency)
	}
	return nil
}
