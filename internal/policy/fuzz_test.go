package policy

import (
	"context"
	"testing"
)

// FuzzCompile: any source either compiles or is refused with a
// CompileError; whatever compiles evaluates without panicking, and an
// error is never an allow.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`notification.amount == query.amount && notification.status == "paid"`,
		`request.headers["X-A"] == "b"`, `cel.bind(x, {"CNY": 1}, x[notification.currency] > 0)`,
		`notification.raw.a.b.c`, `order.amount`, `)(`, `"\xff"`, `[1,2].all(x, x > 0)`,
	} {
		f.Add(s)
	}
	in := sampleInput()
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile("fuzz.cel", src)
		if err != nil {
			if p != nil {
				t.Fatal("a program with an error")
			}
			return
		}
		if ok, err := p.Allow(context.Background(), in); ok && err != nil {
			t.Fatalf("%q allowed with error %v", src, err)
		}
		_, _ = p.Allow(context.Background(), &Input{})
	})
}

// FuzzMapping: a mapping of any source over any body string never panics.
func FuzzMapping(f *testing.F) {
	f.Add(`body.data.id`, `{"data":{"id":"x"}}`)
	f.Add(`int(fields.a)`, `[]`)
	f.Fuzz(func(t *testing.T, src, body string) {
		m, err := CompileMapping("event_id", src, String)
		if err != nil {
			return
		}
		_, _ = m.Eval(context.Background(), &Message{Body: body, Fields: map[string]string{"a": body}})
	})
}
