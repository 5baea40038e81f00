package policy

import (
	"context"
	"testing"
)

func joined(t *testing.T, srcs ...string) *Conjunction {
	t.Helper()
	var progs []*Program
	for _, src := range srcs {
		progs = append(progs, mustCompile(t, src))
	}
	all, err := All(progs)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// The conjunction is true only when every policy is: a false or an error
// in any of them, in any position, is not true.
func TestConjunction(t *testing.T) {
	cases := []struct {
		srcs []string
		want bool
	}{
		{[]string{`notification.amount == 1234 // the amount`, `notification.currency == "CNY"`}, true},
		{[]string{`notification.amount == 1234`, `notification.currency == "USD"`}, false},
		{[]string{`notification.currency == "USD"`, `notification.amount == 1234`}, false},
		{[]string{`notification.raw.no_such == "x"`, `true`}, false},
		{[]string{`true`, `notification.raw.no_such == "x"`}, false},
		{[]string{`notification.raw.no_such == "x"`, `false`}, false},
		{[]string{`order.amount == 1`, `true`}, false}, // order is null
		{[]string{`cel.bind(c, {"CNY": 5000000}, notification.amount <= c[notification.currency])`, `notification.currency in ["CNY", "HKD"]`}, true},
	}
	for _, c := range cases {
		if got := joined(t, c.srcs...).AllAllow(context.Background(), sampleInput()); got != c.want {
			t.Errorf("%q: %v, want %v", c.srcs, got, c.want)
		}
	}
	if _, err := All(nil); err == nil {
		t.Error("a conjunction of no policies")
	}
}

// A conjunction of loops past the cost limit is not true.
func TestConjunctionCostLimit(t *testing.T) {
	l := "[0,1,2,3,4,5,6,7,8,9]"
	loop := l + ".all(a, " + l + ".all(b, " + l + ".all(c, a+b+c >= 0)))"
	// Each alone is within the limit (1000 iterations); twenty of them are
	// not, and the conjunction stops: the caller then evaluates each.
	srcs := make([]string, 20)
	for i := range srcs {
		srcs[i] = loop
	}
	all := joined(t, srcs...)
	if all.AllAllow(context.Background(), sampleInput()) {
		t.Error("a conjunction past the cost limit allowed")
	}
	for _, src := range srcs[:1] {
		if ok, err := mustCompile(t, src).Allow(context.Background(), sampleInput()); !ok || err != nil {
			t.Errorf("one loop alone: %v, %v", ok, err)
		}
	}
}
