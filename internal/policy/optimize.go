package policy

import (
	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
)

// optimized is a checked policy rewritten by CEL's static optimizer for
// evaluation: cel.bind of a constant table (the ceilings per currency) is
// replaced by the table itself where it is named, so the planner's
// OptOptimize builds the table once at provision and the evaluation runs
// no comprehension for it. The rewrite keeps the meaning (a constant has
// no effects and no errors to reorder), and the optimizer type-checks its
// result again. Should it fail, the policy runs as written.
//
// Not CEL's constant folding (cel.NewConstantFoldingOptimizer): it
// evaluates constant comprehensions at compile time, outside the cost
// limit, so a costly constant loop would stall provisioning instead of
// being denied at the limit (TestCostLimit).
func optimized(env *cel.Env, a *cel.Ast) *cel.Ast {
	opt, err := cel.NewStaticOptimizer(constantBinds{})
	if err != nil {
		return a
	}
	out, iss := opt.Optimize(env, a)
	if iss.Err() != nil || !out.OutputType().IsExactType(a.OutputType()) {
		return a
	}
	return out
}

// constantBinds inlines cel.bind(name, <constant literal>, body).
type constantBinds struct{}

// Optimize implements cel.ASTOptimizer. One bind at a time, navigating
// afresh after each rewrite.
func (constantBinds) Optimize(ctx *cel.OptimizerContext, a *celast.AST) *celast.AST {
	for range 64 {
		binds := celast.MatchDescendants(celast.NavigateAST(a), func(e celast.NavigableExpr) bool {
			return inlinableBind(a, e)
		})
		if len(binds) == 0 {
			break
		}
		e := binds[0]
		c := e.AsComprehension()
		name, init, body := c.AccuVar(), c.AccuInit(), c.Result()
		uses := celast.MatchDescendants(celast.NavigateExpr(a, body), func(x celast.NavigableExpr) bool {
			return x.Kind() == celast.IdentKind && x.AsIdent() == name
		})
		for _, use := range uses {
			lit, _ := ctx.CopyAST(ctx.NewAST(init))
			ctx.UpdateExpr(use, lit)
		}
		ctx.UpdateExpr(e, body)
	}
	return a
}

// inlinableBind reports whether e is a cel.bind whose value is a literal
// made only of constants and whose body declares no variable of the same
// name (which would shadow it).
func inlinableBind(a *celast.AST, e celast.NavigableExpr) bool {
	if e.Kind() != celast.ComprehensionKind {
		return false
	}
	c := e.AsComprehension()
	rng := c.IterRange()
	// cel.bind's expansion (ext.Bindings); "#unused" is no name an
	// expression can write.
	isBind := c.IterVar() == "#unused" && !c.HasIterVar2() &&
		rng.Kind() == celast.ListKind && len(rng.AsList().Elements()) == 0 &&
		c.LoopStep().Kind() == celast.IdentKind && c.LoopStep().AsIdent() == c.AccuVar()
	if !isBind || !constantLiteral(celast.NavigateExpr(a, c.AccuInit())) {
		return false
	}
	shadows := celast.MatchDescendants(celast.NavigateExpr(a, c.Result()), func(x celast.NavigableExpr) bool {
		if x.Kind() != celast.ComprehensionKind {
			return false
		}
		n := x.AsComprehension()
		return n.AccuVar() == c.AccuVar() || n.IterVar() == c.AccuVar() || (n.HasIterVar2() && n.IterVar2() == c.AccuVar())
	})
	return len(shadows) == 0
}

// constantLiteral reports whether e is a literal, or a list or map of
// them (no optional entries).
func constantLiteral(e celast.NavigableExpr) bool {
	other := celast.MatchDescendants(e, func(x celast.NavigableExpr) bool {
		switch x.Kind() {
		case celast.LiteralKind:
			return false
		case celast.ListKind:
			return len(x.AsList().OptionalIndices()) > 0
		case celast.MapKind:
			for _, en := range x.AsMap().Entries() {
				if en.AsMapEntry().IsOptional() {
					return true
				}
			}
			return false
		}
		return true
	})
	return len(other) == 0
}
