package pipeline

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// fixedLookup answers every order lookup with order or err.
type fixedLookup struct {
	order *Order
	err   error
	calls int
}

func (l *fixedLookup) LookupOrder(_ context.Context, _ string) (*Order, error) {
	l.calls++
	return l.order, l.err
}

func compiled(t *testing.T, name, src string) Policy {
	t.Helper()
	p, err := policy.Compile(name, src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// claimable reports whether the event's claim was released (or never
// taken): a provider retry can then deliver it.
func claimable(t *testing.T, st store.Store, id string) bool {
	t.Helper()
	c, err := st.ClaimEvent(context.Background(), "fake", id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return c.State == store.Claimed
}

func TestPolicyStage(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name     string
		policies []string
		status   int
		code     reason.Code
		denier   string
		detail   string
	}{
		{"all allow", []string{`notification.amount == 1234`, `request.path == "/notify"`}, 200, reason.Forwarded, "", ""},
		{"second denies", []string{`notification.amount == 1234`, `notification.amount < 1000`}, 403, reason.PolicyDenied, "p2", "returned false"},
		{"the failing condition is named", []string{`notification.amount > 0 && notification.currency == "USD"`}, 403, reason.PolicyDenied, "p1", `policy p1: notification.currency == "USD" is false`},
		{"runtime error denies", []string{`notification.raw.no_such == "x"`}, 403, reason.PolicyDenied, "p1", "no such key"},
		{"null query denies", []string{`query.amount == notification.amount`}, 403, reason.PolicyDenied, "p1", "query is null"},
		{"request variables", []string{`request.remote_ip == "203.0.113.7" && request.headers["Content-Type"] == "application/json" && request.time == timestamp("2026-01-02T03:04:05Z")`}, 200, reason.Forwarded, "", ""},
		{"an error before a false names the error", []string{`notification.amount == 1234`, `notification.raw.no_such == "x"`, `notification.amount < 1000`}, 403, reason.PolicyDenied, "p2", "no such key"},
		{"a false before an error names the false", []string{`notification.amount < 1000`, `notification.raw.no_such == "x"`}, 403, reason.PolicyDenied, "p1", "returned false"},
		{"three allow, one ending in a comment", []string{`notification.amount == 1234 // the amount`, `request.path == "/notify"`, `notification.currency != ""`}, 200, reason.Forwarded, "", ""},
		{"forged payguard headers are not seen", []string{`!("Payguard-Amount" in request.headers)`}, 200, reason.Forwarded, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pols []Policy
			for i, src := range c.policies {
				pols = append(pols, compiled(t, "p"+string(rune('1'+i)), src))
			}
			p, st := newPipeline(t, func(cfg *Config) {
				cfg.Policies = pols
				cfg.Now = func() time.Time { return now }
			})
			if joined := p.allPolicies != nil; joined != (len(pols) > 1) {
				t.Fatalf("%d policies joined into one program: %v", len(pols), joined)
			}
			s := &shop{}
			in := post(msg("e1", "o1", "t1", 1234))
			in.Header.Set("Payguard-Amount", "1")
			res := p.Handle(context.Background(), in, s.forward)
			expect(t, res, c.status, c.code)
			if res.Policy != c.denier {
				t.Errorf("res.Policy = %q, want %q", res.Policy, c.denier)
			}
			if c.code != reason.PolicyDenied {
				return
			}
			if !strings.Contains(res.Err.Error(), c.detail) {
				t.Errorf("detail %q does not say %q", res.Err, c.detail)
			}
			if s.count() != 0 {
				t.Error("a denied notification reached the shop")
			}
			if !claimable(t, st, "e1") {
				t.Error("the denied notification's claim was not released")
			}
			rec := res.Audit
			if rec.Policy != c.denier || rec.Reason != reason.PolicyDenied {
				t.Errorf("audit record policy %q reason %s", rec.Policy, rec.Reason)
			}
		})
	}
}

func TestOrderStage(t *testing.T) {
	paid := &Order{Amount: 1234, Currency: "CNY", Status: "unpaid"}
	other := &Order{Amount: 999, Currency: "CNY", Status: "unpaid"}
	cases := []struct {
		name     string
		lookup   *fixedLookup
		policies []string
		status   int
		code     reason.Code
	}{
		{"match", &fixedLookup{order: paid}, nil, 200, reason.Forwarded},
		{"amount differs", &fixedLookup{order: other}, nil, 403, reason.OrderMismatch},
		{"currency differs", &fixedLookup{order: &Order{Amount: 1234, Currency: "USD"}}, nil, 403, reason.OrderMismatch},
		{"missing", &fixedLookup{err: reason.New(reason.OrderMismatch, "no such order")}, nil, 403, reason.OrderMismatch},
		{"unreachable", &fixedLookup{err: reason.New(reason.QueryUnavailable, "refused")}, nil, 503, reason.QueryUnavailable},
		{"plain error is unavailable", &fixedLookup{err: errors.New("boom")}, nil, 503, reason.QueryUnavailable},
		// A policy that reads order turns the default check off: the
		// policies decide, here for a partial payment the shop allows.
		{"policy decides", &fixedLookup{order: other}, []string{`order.amount >= notification.amount - 300`}, 200, reason.Forwarded},
		{"policy decides no", &fixedLookup{order: paid}, []string{`order.status == "paid"`}, 403, reason.PolicyDenied},
		// A policy that does not read order leaves the default check on.
		{"policy ignores order", &fixedLookup{order: other}, []string{`notification.amount > 0`}, 403, reason.OrderMismatch},
		// Missing is order_mismatch even when the policies decide.
		{"missing with policy", &fixedLookup{err: reason.New(reason.OrderMismatch, "404")}, []string{`order == null`}, 403, reason.OrderMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pols []Policy
			for _, src := range c.policies {
				pols = append(pols, compiled(t, "order.cel", src))
			}
			p, st := newPipeline(t, func(cfg *Config) { cfg.OrderLookup, cfg.Policies = c.lookup, pols })
			s := &shop{}
			res := p.Handle(context.Background(), post(msg("e1", "o1", "t1", 1234)), s.forward)
			expect(t, res, c.status, c.code)
			if c.lookup.calls != 1 {
				t.Errorf("%d lookups", c.lookup.calls)
			}
			if c.code != reason.Forwarded && !claimable(t, st, "e1") {
				t.Error("the claim was not released")
			}
		})
	}
}

func TestPolicySeesNoOrderWithoutLookup(t *testing.T) {
	p, _ := newPipeline(t, func(cfg *Config) {
		cfg.Policies = []Policy{compiled(t, "x", `order == null && query == null`)}
	})
	res := p.Handle(context.Background(), post(msg("e1", "o1", "t1", 1234)), (&shop{}).forward)
	expect(t, res, http.StatusOK, reason.Forwarded)
}
