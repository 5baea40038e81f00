package policy

import (
	"context"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// ResultType is what a field mapping must yield.
type ResultType int

const (
	// String: event_id, out_trade_no, transaction_id, currency, status.
	String ResultType = iota + 1
	// Int: amount, in minor units.
	Int
)

func (t ResultType) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "int"
	}
	return "unknown"
}

func (t ResultType) celType() *cel.Type {
	if t == Int {
		return cel.IntType
	}
	return cel.StringType
}

// Message is the parsed notification a field mapping reads.
type Message struct {
	// Body is the parsed body: for JSON what encoding/json gives with
	// UseNumber (map[string]any, []any, string, json.Number, bool, nil),
	// for form or XML bodies a map[string]any or map[string]string of
	// the fields. nil is an empty map.
	Body any
	// Fields are the message's flat fields (form or XML fields, or the
	// signed parameters), nil is an empty map.
	Fields map[string]string
	// Headers are the request headers: canonical name to first value
	// (HeaderMap builds it from an http.Header).
	Headers map[string]string
}

// Mapping is one compiled field-mapping expression (the stdwebhooks and
// generic providers' event_id, out_trade_no, amount, ...). It is safe for
// concurrent use.
type Mapping struct {
	name   string
	result ResultType
	prg    cel.Program
}

var mappingEnv = sync.OnceValues(newMappingEnv)

// CompileMapping parses and type-checks a mapping over `body` (dyn),
// `fields` (map(string, string)) and `headers` (map(string, string)). name
// is the option it configures (for example "amount"), used in errors. An
// expression whose type is known to be other than result (`fields.amount`
// for an int: write `int(fields.amount)`) is a *CompileError; one whose
// type is only known at run time (anything read from `body`) is checked
// on each evaluation.
func CompileMapping(name, source string, result ResultType) (*Mapping, error) {
	if result != String && result != Int {
		return nil, fmt.Errorf("policy: mapping %s: unknown result type %d", name, result)
	}
	env, err := mappingEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(source)
	if iss.Err() != nil {
		return nil, compileError(name, iss)
	}
	out := ast.OutputType()
	if !out.IsExactType(cel.DynType) && !out.IsExactType(result.celType()) {
		return nil, &CompileError{Name: name, Issues: []Issue{{Line: 1, Column: 1,
			Message: fmt.Sprintf("%s must yield %s, this expression yields %s (convert it: %s(...))", name, result, out, result)}}}
	}
	prg, err := program(env, ast)
	if err != nil {
		return nil, &CompileError{Name: name, Issues: []Issue{{Line: 1, Column: 1, Message: err.Error()}}}
	}
	return &Mapping{name: name, result: result, prg: prg}, nil
}

// Name is the mapping's name as given to CompileMapping.
func (m *Mapping) Name() string { return m.name }

// Result is the type the mapping yields.
func (m *Mapping) Result() ResultType { return m.result }

// Eval evaluates the mapping on msg: a string or an int64, per Result. A
// missing field, a value of the wrong type, or the cost limit is an error
// naming the mapping.
func (m *Mapping) Eval(ctx context.Context, msg *Message) (any, error) {
	out, _, err := m.prg.Eval(&mappingActivation{msg: msg})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, evalError(err))
	}
	switch v := out.(type) {
	case types.String:
		if m.result == String {
			return string(v), nil
		}
	case types.Int:
		if m.result == Int {
			return int64(v), nil
		}
	}
	return nil, fmt.Errorf("%s: the expression yielded %s, not %s", m.name, out.Type().TypeName(), m.result)
}

// EvalString is Eval for a String mapping.
func (m *Mapping) EvalString(ctx context.Context, msg *Message) (string, error) {
	if m.result != String {
		return "", fmt.Errorf("%s: mapping yields %s, not string", m.name, m.result)
	}
	v, err := m.Eval(ctx, msg)
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// EvalInt is Eval for an Int mapping.
func (m *Mapping) EvalInt(ctx context.Context, msg *Message) (int64, error) {
	if m.result != Int {
		return 0, fmt.Errorf("%s: mapping yields %s, not int", m.name, m.result)
	}
	v, err := m.Eval(ctx, msg)
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

type mappingActivation struct{ msg *Message }

var emptyStrings = map[string]string{}

func (a *mappingActivation) ResolveName(name string) (any, bool) {
	msg := a.msg
	if msg == nil {
		msg = &Message{}
	}
	switch name {
	case varBody:
		if msg.Body == nil {
			return map[string]any{}, true
		}
		return msg.Body, true
	case varFields:
		if msg.Fields == nil {
			return emptyStrings, true
		}
		return msg.Fields, true
	case varHeaders:
		if msg.Headers == nil {
			return emptyStrings, true
		}
		return msg.Headers, true
	}
	return nil, false
}

func (a *mappingActivation) Parent() interpreter.Activation { return nil }
