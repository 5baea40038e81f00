package policy

import (
	"context"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/parser"
)

// conjunct is one top-level `&&` operand of a policy, compiled on its own
// so a denial can say which condition failed.
type conjunct struct {
	text string
	prg  cel.Program
}

// explainer holds a policy's conjuncts, built on first use: only `policy
// test` and denials' explanations need them.
type explainer struct {
	once  sync.Once
	parts []conjunct
}

// Explain says why the policy denied in: the first top-level condition
// (an operand of the outermost &&s) that is false or fails, as CEL source.
// It is "" when the policy allows or is not a conjunction.
func (p *Program) Explain(ctx context.Context, in *Input) string {
	p.explain.once.Do(func() { p.explain.parts = splitConjuncts(p.ast) })
	for _, c := range p.explain.parts {
		ok, err := evalBool(ctx, c.prg, newActivation(in, p.now))
		if err != nil {
			return c.text + ": " + err.Error()
		}
		if !ok {
			return c.text + " is false"
		}
	}
	return ""
}

func splitConjuncts(a *cel.Ast) []conjunct {
	env, err := policyEnv()
	if err != nil || a == nil {
		return nil
	}
	native := a.NativeRep()
	var leaves []celast.Expr
	var walk func(e celast.Expr)
	walk = func(e celast.Expr) {
		if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
			for _, arg := range e.AsCall().Args() {
				walk(arg)
			}
			return
		}
		leaves = append(leaves, e)
	}
	walk(native.Expr())
	if len(leaves) < 2 {
		return nil
	}
	var parts []conjunct
	for _, e := range leaves {
		text, err := parser.Unparse(e, native.SourceInfo())
		if err != nil {
			return nil
		}
		sub, iss := env.Compile(text)
		if iss.Err() != nil {
			return nil
		}
		prg, err := program(env, sub)
		if err != nil {
			return nil
		}
		// The unparser wraps long lines; the explanation is one line.
		parts = append(parts, conjunct{text: strings.Join(strings.Fields(text), " "), prg: prg})
	}
	return parts
}
