package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// Program is one compiled policy. It is safe for concurrent use; it
// implements the pipeline's Policy interface.
type Program struct {
	name    string
	source  string
	prg     cel.Program
	usesOrd bool
	usesDup bool
	now     func() time.Time
	ast     *cel.Ast
	explain explainer
}

// Issue is one problem CEL found in an expression: line and column are
// 1-based positions in the expression's source.
type Issue struct {
	Line    int
	Column  int
	Message string
}

// CompileError is a policy or mapping that does not compile: a syntax
// error, an unknown name, a type error, or the wrong result type. Name is
// the policy's file name (or the shortened inline expression); Issues
// carry CEL's own positions and messages.
type CompileError struct {
	Name   string
	Issues []Issue
}

func (e *CompileError) Error() string {
	var b strings.Builder
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", e.Name, is.Line, is.Column, is.Message)
	}
	return b.String()
}

var policyEnv = sync.OnceValues(newPolicyEnv)

// Compile parses and type-checks one policy against the variables of
// DESIGN.md section 7. name identifies it in errors, logs and the audit
// record's `policy` field (use the file name, or InlineName for an inline
// expression). An error is a *CompileError (or an environment failure).
func Compile(name, source string) (*Program, error) {
	env, err := policyEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(source)
	if iss.Err() != nil {
		return nil, compileError(name, iss)
	}
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) {
		msg := fmt.Sprintf("a policy must be a boolean expression, this one is %s", out)
		if out.IsExactType(cel.DynType) {
			msg += " (compare it: `... == true`)"
		}
		return nil, &CompileError{Name: name, Issues: []Issue{{Line: 1, Column: 1, Message: msg}}}
	}
	prg, err := program(env, optimized(env, ast))
	if err != nil {
		return nil, &CompileError{Name: name, Issues: []Issue{{Line: 1, Column: 1, Message: err.Error()}}}
	}
	return &Program{name: name, source: source, prg: prg, now: time.Now, ast: ast,
		usesOrd: references(ast, varOrder), usesDup: selects(ast, fieldDuplicateOf)}, nil
}

// CompileFile reads a policy file and compiles it under its path.
func CompileFile(path string) (*Program, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return Compile(path, string(src))
}

// InlineName is the name an inline policy goes by: the expression itself,
// on one line, shortened to 60 characters.
func InlineName(expr string) string {
	s := strings.Join(strings.Fields(expr), " ")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

// Config is one configured policy, as a route's JSON holds it: a .cel
// file, or an inline expression.
type Config struct {
	File       string `json:"file,omitempty"`
	Expression string `json:"expression,omitempty"`
}

// ConfigOf is the Config of a `policy` argument: a file when IsFile.
func ConfigOf(arg string) Config {
	if IsFile(arg) {
		return Config{File: arg}
	}
	return Config{Expression: arg}
}

// Compile compiles the policy under its name: the file's path, or the
// shortened expression.
func (c Config) Compile() (*Program, error) {
	switch {
	case c.File != "" && c.Expression != "":
		return nil, fmt.Errorf("policy: give a file or an expression, not both")
	case c.File != "":
		return CompileFile(c.File)
	case c.Expression != "":
		return Compile(InlineName(c.Expression), c.Expression)
	}
	return nil, fmt.Errorf("policy: neither a file nor an expression")
}

// IsFile reports whether a `policy` argument names a file (it ends in
// .cel) rather than being an inline expression.
func IsFile(arg string) bool {
	return strings.HasSuffix(arg, ".cel") && !strings.ContainsAny(arg, "\n\"'()=")
}

// Name is the policy's name: its file, or its shortened expression.
func (p *Program) Name() string { return p.name }

// Source is the policy's expression.
func (p *Program) Source() string { return p.source }

// ReferencesOrder reports whether the policy names `order`: then the
// pipeline's default order check (amount and currency equal the
// notification's) is off and the policies decide (DESIGN.md section 5).
func (p *Program) ReferencesOrder() bool { return p.usesOrd }

// ReferencesDuplicateOf reports whether the policy reads
// notification.duplicate_of: only then does the pipeline read the order's
// paid transaction from the store before the policies run.
func (p *Program) ReferencesDuplicateOf() bool { return p.usesDup }

// ErrNotBool is returned when an evaluation yields something other than a
// boolean; type checking makes this unreachable for compiled policies, but
// a pass is only ever a true.
var ErrNotBool = errors.New("policy did not yield a boolean")

// Allow evaluates the policy on one notification. Any evaluation error (a
// missing field, a null query, the cost limit) is a denial, returned with
// the error: never a pass.
func (p *Program) Allow(ctx context.Context, in *Input) (bool, error) {
	return evalBool(ctx, p.prg, newActivation(in, p.now))
}

// program plans a checked expression. CEL's estimator bounds the worst
// case of most policies statically (no loop over data of unknown size):
// when that bound is within DefaultCostLimit the limit cannot be reached
// and the program runs without the runtime tracker, which would double the
// cost of a typical policy. Every other program is tracked and stopped at
// the limit.
func program(env *cel.Env, ast *cel.Ast) (cel.Program, error) {
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	est, err := env.EstimateCost(ast, unknownSizes{})
	if err != nil || est.Max > DefaultCostLimit {
		opts = append(opts, cel.CostLimit(DefaultCostLimit))
	}
	return env.Program(ast, opts...)
}

// unknownSizes lets CEL's estimator assume nothing about the sizes of
// strings, lists and maps: its bound then holds for any input.
type unknownSizes struct{}

func (unknownSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (unknownSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// evalBool evaluates a policy. The cost limit bounds its time, so the
// context is not polled (polling costs more than a typical policy).
func evalBool(_ context.Context, prg cel.Program, act interpreter.Activation) (bool, error) {
	out, _, err := prg.Eval(act)
	if err != nil {
		return false, evalError(err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, ErrNotBool
	}
	return bool(b), nil
}

// evalError makes CEL's runtime errors read as payguard's: the cost limit
// is named as such.
func evalError(err error) error {
	if strings.Contains(err.Error(), "actual cost limit exceeded") {
		return fmt.Errorf("%w (cost limit %d)", err, DefaultCostLimit)
	}
	return err
}

func compileError(name string, iss *cel.Issues) *CompileError {
	ce := &CompileError{Name: name}
	for _, e := range iss.Errors() {
		ce.Issues = append(ce.Issues, Issue{
			Line:    e.Location.Line(),
			Column:  e.Location.Column() + 1, // CEL counts columns from 0
			Message: e.Message,
		})
	}
	return ce
}

// references reports whether the checked expression names the global
// variable, not counting a local one of the same name (a comprehension's
// or cel.bind's): the answer turns the default order check off, so it
// must never be true for a policy that cannot see the shop's order.
func references(a *cel.Ast, name string) bool {
	return namesVar(a.NativeRep().Expr(), name)
}

// fieldDuplicateOf is the notification field read from the store.
const fieldDuplicateOf = "duplicate_of"

// selects reports whether the checked expression reads the field of a
// notification, under its own name or a bound one (cel.bind(n,
// notification, n.duplicate_of)); a raw field of that name is not it.
func selects(a *cel.Ast, field string) bool {
	native := a.NativeRep()
	sel := celast.MatchDescendants(celast.NavigateAST(native), func(e celast.NavigableExpr) bool {
		if e.Kind() != celast.SelectKind || e.AsSelect().FieldName() != field {
			return false
		}
		return native.GetType(e.AsSelect().Operand().ID()).TypeName() == typeNotification
	})
	return len(sel) > 0
}

func namesVar(e celast.Expr, name string) bool {
	if e == nil {
		return false
	}
	switch e.Kind() {
	case celast.IdentKind:
		return e.AsIdent() == name
	case celast.SelectKind:
		return namesVar(e.AsSelect().Operand(), name)
	case celast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() && namesVar(c.Target(), name) {
			return true
		}
		return slices.ContainsFunc(c.Args(), func(x celast.Expr) bool { return namesVar(x, name) })
	case celast.ListKind:
		return slices.ContainsFunc(e.AsList().Elements(), func(x celast.Expr) bool { return namesVar(x, name) })
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			if namesVar(en.AsMapEntry().Key(), name) || namesVar(en.AsMapEntry().Value(), name) {
				return true
			}
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			if namesVar(f.AsStructField().Value(), name) {
				return true
			}
		}
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		if namesVar(c.IterRange(), name) || namesVar(c.AccuInit(), name) {
			return true
		}
		if c.AccuVar() == name {
			return false // shadowed in the loop and the result
		}
		if !(c.IterVar() == name || (c.HasIterVar2() && c.IterVar2() == name)) &&
			(namesVar(c.LoopCondition(), name) || namesVar(c.LoopStep(), name)) {
			return true
		}
		return namesVar(c.Result(), name)
	}
	return false
}
