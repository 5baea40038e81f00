package policy

import (
	"context"
	"testing"

	celast "cel.dev/cel-go/common/ast"
)

func comprehensions(t *testing.T, src string) int {
	t.Helper()
	env, err := policyEnv()
	if err != nil {
		t.Fatal(err)
	}
	a, iss := env.Compile(src)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	return len(celast.MatchDescendants(celast.NavigateAST(optimized(env, a).NativeRep()),
		celast.KindMatcher(celast.ComprehensionKind)))
}

// A cel.bind of a constant table is inlined (no comprehension is left to
// run); one of a value read from the input, or whose name the body
// declares again, is kept.
func TestOptimizedInlinesConstantBinds(t *testing.T) {
	cases := []struct {
		src  string
		left int
	}{
		{`cel.bind(c, {"CNY": 5000000, "HKD": 10}, notification.currency in c && notification.amount <= c[notification.currency])`, 0},
		{`cel.bind(c, ["CNY", "HKD"], cel.bind(d, {"CNY": 1}, notification.currency in c && notification.currency in d))`, 0},
		{`cel.bind(c, notification.currency, c == "CNY")`, 1},
		{`cel.bind(x, [1], [2].all(x, x == 2))`, 2},
	}
	for _, c := range cases {
		if got := comprehensions(t, c.src); got != c.left {
			t.Errorf("%s: %d comprehensions left, want %d", c.src, got, c.left)
		}
	}
}

// The inlined policies decide as written.
func TestOptimizedVerdicts(t *testing.T) {
	cases := []struct {
		src  string
		want bool
	}{
		{`cel.bind(c, {"CNY": 5000000}, notification.currency in c && notification.amount <= c[notification.currency])`, true},
		{`cel.bind(c, {"CNY": 100}, notification.currency in c && notification.amount <= c[notification.currency])`, false},
		{`cel.bind(c, {"HKD": 5000000}, notification.currency in c && notification.amount <= c[notification.currency])`, false},
		{`cel.bind(c, ["USD"], !(notification.currency in c))`, true},
		{`cel.bind(x, [1], [2].all(x, x == 2))`, true},
		{`cel.bind(x, [1], [2].exists(y, y == 2) && x == [1])`, true},
	}
	for _, c := range cases {
		in := sampleInput()
		if in.Notification.Currency != "CNY" || in.Notification.Amount <= 100 || in.Notification.Amount > 5000000 {
			t.Fatalf("sampleInput changed: %s %d", in.Notification.Currency, in.Notification.Amount)
		}
		ok, err := mustCompile(t, c.src).Allow(context.Background(), in)
		if err != nil || ok != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.src, ok, err, c.want)
		}
	}
}
