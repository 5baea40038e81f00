package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func jsonBody(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMappingEval(t *testing.T) {
	msg := &Message{
		Body:    jsonBody(t, `{"type":"charge.succeeded","data":{"id":"ch_1","amount":1234,"fee":1.5,"order_no":"o-1"}}`),
		Fields:  map[string]string{"total_fee": "88", "out_trade_no": "o-2"},
		Headers: HeaderMap(http.Header{"webhook-id": {"msg_1"}, "X-Trace": {"a", "b"}}),
	}
	strs := map[string]string{
		`body.data.id`:          "ch_1",
		`body.data.order_no`:    "o-1",
		`fields.out_trade_no`:   "o-2",
		`headers["Webhook-Id"]`: "msg_1",
		`headers["X-Trace"]`:    "a",
		`body.type == "charge.succeeded" ? "paid" : "other"`: "paid",
		`string(body.data.amount)`:                           "1234",
		`fields.out_trade_no.upperAscii()`:                   "O-2",
	}
	for src, want := range strs {
		m, err := CompileMapping("out_trade_no", src, String)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := m.EvalString(context.Background(), msg)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", src, got, err, want)
		}
	}
	ints := map[string]int64{
		`body.data.amount`:           1234,
		`int(fields.total_fee)`:      88,
		`body.data.amount * 100`:     123400,
		`int(body.data.fee * 100.0)`: 150,
	}
	for src, want := range ints {
		m, err := CompileMapping("amount", src, Int)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := m.EvalInt(context.Background(), msg)
		if err != nil || got != want {
			t.Errorf("%s: got %d, %v; want %d", src, got, err, want)
		}
	}
}

func TestMappingCompileErrors(t *testing.T) {
	cases := []struct {
		src    string
		result ResultType
		msg    string
	}{
		{`fields.amount`, Int, "amount must yield int, this expression yields string"},
		{`int(fields.x)`, String, "must yield string, this expression yields int"},
		{`body.data.`, String, "Syntax error"},
		{`notification.amount`, Int, "undeclared reference to 'notification'"},
		{`fields.a + 1`, Int, "found no matching overload for '_+_'"},
		{`headers == 3`, String, "found no matching overload"},
	}
	for _, c := range cases {
		_, err := CompileMapping("amount", c.src, c.result)
		var ce *CompileError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "amount:") {
			t.Errorf("%s: error %v; want a CompileError containing %q", c.src, err, c.msg)
		}
	}
	if _, err := CompileMapping("x", "1", ResultType(0)); err == nil {
		t.Error("an unknown result type compiled")
	}
}

func TestMappingRuntimeErrors(t *testing.T) {
	msg := &Message{Body: jsonBody(t, `{"data":{"amount":12.5,"id":7}}`)}
	cases := []struct {
		name, src string
		result    ResultType
		msg       string
	}{
		{"missing key", `body.data.order_no`, String, "no such key"},
		{"double for int", `body.data.amount`, Int, "yielded double, not int"},
		{"int for string", `body.data.id`, String, "yielded int, not string"},
		{"missing header", `headers["X-None"]`, String, "no such key"},
		{"missing field on nil fields", `fields.x`, String, "no such key"},
	}
	for _, c := range cases {
		m, err := CompileMapping("event_id", c.src, c.result)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		v, err := m.Eval(context.Background(), msg)
		if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "event_id: ") {
			t.Errorf("%s: got %v, %v; want an error containing %q", c.name, v, err, c.msg)
		}
	}
	// A nil message and a nil body are empty, not a panic.
	m, _ := CompileMapping("event_id", `"id" in body ? "x" : "none"`, String)
	for _, msg := range []*Message{nil, {}} {
		if v, err := m.EvalString(context.Background(), msg); err != nil || v != "none" {
			t.Errorf("empty message: %q, %v", v, err)
		}
	}
	// The wrong Eval for the type is refused.
	if _, err := m.EvalInt(context.Background(), nil); err == nil {
		t.Error("EvalInt on a string mapping succeeded")
	}
}

func TestMappingCostLimit(t *testing.T) {
	l := "[0,1,2,3,4,5,6,7,8,9]"
	src := `size(` + l + `.filter(a, ` + l + `.all(b, ` + l + `.all(c, ` + l + `.all(d, ` + l + `.all(e, a+b+c+d+e >= 0))))))`
	m, err := CompileMapping("amount", src, Int)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.EvalInt(context.Background(), &Message{}); err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("got %v; want the cost limit", err)
	}
}
