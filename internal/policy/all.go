package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
)

// Conjunction is several policies compiled as one CEL program,
// `(p1) && (p2) && ...`: one evaluation instead of one per policy for the
// notification every policy allows. CEL's && is true only when both sides
// are true (false or an error on either side is not true), so a true
// conjunction means every policy is true; anything else says nothing about
// which one denied, and the caller evaluates the policies one by one, in
// order, as without it. It never decides a denial.
type Conjunction struct {
	prg cel.Program
	now func() time.Time
}

// All compiles the policies' conjunction. Each of them compiled alone, so
// the conjunction compiles too; an error is returned all the same and
// then the caller goes without one.
func All(progs []*Program) (*Conjunction, error) {
	if len(progs) == 0 {
		return nil, fmt.Errorf("policy: no policies to join")
	}
	env, err := policyEnv()
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(progs))
	for i, p := range progs {
		// On lines of its own: a policy may end in a // comment.
		parts[i] = "(\n" + p.source + "\n)"
	}
	a, iss := env.Compile(strings.Join(parts, " && "))
	if iss.Err() != nil {
		return nil, fmt.Errorf("policy: joining %d policies: %w", len(progs), iss.Err())
	}
	prg, err := program(env, optimized(env, a))
	if err != nil {
		return nil, fmt.Errorf("policy: joining %d policies: %w", len(progs), err)
	}
	return &Conjunction{prg: prg, now: progs[0].now}, nil
}

// AllAllow reports whether every policy allows the input. False means
// "evaluate them one by one": a policy may deny, or fail to evaluate.
func (c *Conjunction) AllAllow(ctx context.Context, in *Input) bool {
	ok, err := evalBool(ctx, c.prg, newActivation(in, c.now))
	return ok && err == nil
}
