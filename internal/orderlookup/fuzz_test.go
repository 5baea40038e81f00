package orderlookup

import (
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

// FuzzParseOrder: the shop's answer never panics the parser, and anything
// it refuses is query_unavailable (a retry), never a pass.
func FuzzParseOrder(f *testing.F) {
	for _, s := range []string{`{"amount":1234,"currency":"CNY","status":"unpaid"}`, `{"amount":1}`, `null`, `[]`, `{"amount":1e3}`, `{"amount":-1,"currency":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOrder(b)
		if err != nil {
			if o != nil || reason.CodeOf(err, "") != reason.QueryUnavailable {
				t.Fatalf("%q: %v with %+v", b, err, o)
			}
			return
		}
		if o == nil {
			t.Fatalf("%q: no order and no error", b)
		}
	})
}
