package policy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sampleInput() *Input {
	return &Input{
		Notification: &notification.Notification{
			Provider: "alipay", EventID: "evt-1", Type: "", OutTradeNo: "order-1",
			TransactionID: "txn-1", Amount: 1234, Currency: "CNY", Status: notification.StatusPaid,
			OccurredAt: testTime.Add(-time.Minute), RefundAmount: 0, RefundID: "",
			Raw: map[string]any{
				"app_id": "2021000000000001",
				"amount": map[string]any{"total": json.Number("1234"), "rate": json.Number("0.5")},
				"tags":   []any{"a", "b"},
			},
		},
		Query:       &provider.QueryResult{Status: notification.StatusPaid, Amount: 1234, Currency: "CNY"},
		Order:       &Order{Amount: 1234, Currency: "CNY", Status: "unpaid"},
		DuplicateOf: "txn-0",
		RemoteIP:    netip.MustParseAddr("203.0.113.7"),
		Header:      http.Header{"X-Shop": {"one", "two"}, "Content-Type": {"application/x-www-form-urlencoded"}},
		Path:        "/notify/alipay",
		Time:        testTime,
	}
}

func mustCompile(t *testing.T, src string) *Program {
	t.Helper()
	p, err := Compile("test.cel", src)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return p
}

// TestEveryVariable reads each field of each variable once, with a value
// that only the right binding gives.
func TestEveryVariable(t *testing.T) {
	allow := []string{
		`notification.id == "evt-1"`,
		`notification.provider == "alipay"`,
		`notification.type == "payment.succeeded"`,
		`notification.out_trade_no == "order-1"`,
		`notification.transaction_id == "txn-1"`,
		`notification.amount == 1234`,
		`notification.currency == "CNY"`,
		`notification.status == "paid"`,
		`notification.occurred_at == timestamp("2026-01-02T03:03:05Z")`,
		`notification.refund_amount == 0`,
		`notification.refund_id == ""`,
		`notification.duplicate_of == "txn-0"`,
		`notification.raw.app_id == "2021000000000001"`,
		`notification.raw["amount"].total == 1234`,
		`notification.raw.amount.rate == 0.5`,
		`notification.raw.tags == ["a", "b"]`,
		`"app_id" in notification.raw && !("missing" in notification.raw)`,
		`query.status == "paid" && query.amount == 1234 && query.currency == "CNY"`,
		`order.amount == 1234 && order.currency == "CNY" && order.status == "unpaid"`,
		`request.remote_ip == "203.0.113.7"`,
		`request.headers["X-Shop"] == "one"`,
		`request.headers["Content-Type"].startsWith("application/")`,
		`request.path == "/notify/alipay"`,
		`request.time == timestamp("2026-01-02T03:04:05Z")`,
		`request.time.getHours("+08:00") == 11`,
		`query != null && order != null`,
	}
	for _, src := range allow {
		ok, err := mustCompile(t, src).Allow(context.Background(), sampleInput())
		if err != nil || !ok {
			t.Errorf("%s: got %v, %v; want allow", src, ok, err)
		}
	}
	// The same fields with another value deny: the bindings are not
	// accidentally true.
	deny := []string{
		`notification.amount == 1235`,
		`notification.provider == "wechatpay_v3"`,
		`query.amount != notification.amount`,
		`request.headers["X-Shop"] == "two"`,
		`request.time < notification.occurred_at`,
	}
	for _, src := range deny {
		ok, err := mustCompile(t, src).Allow(context.Background(), sampleInput())
		if err != nil || ok {
			t.Errorf("%s: got %v, %v; want deny without error", src, ok, err)
		}
	}
}

func TestNullQueryAndOrder(t *testing.T) {
	in := sampleInput()
	in.Query, in.Order = nil, nil
	ok, err := mustCompile(t, `query == null && order == null`).Allow(context.Background(), in)
	if err != nil || !ok {
		t.Fatalf("null checks: %v, %v", ok, err)
	}
	// Reading a field of null is an evaluation error: a denial, never a pass.
	for _, src := range []string{`query.amount == notification.amount`, `order.status == "unpaid"`} {
		ok, err := mustCompile(t, src).Allow(context.Background(), in)
		if ok || err == nil {
			t.Errorf("%s on null: got %v, %v; want a denial with an error", src, ok, err)
		}
	}
}

func TestRuntimeErrorDenies(t *testing.T) {
	for _, src := range []string{
		`notification.raw.no_such_field == "x"`,
		`notification.raw.app_id > 3`,      // dyn: string vs int at run time
		`notification.amount / 0 == 1`,     // division by zero
		`int(notification.raw.app_id) > 0`, // too large for int? no: it parses; use a non-number
		`int(notification.currency) > 0`,
	} {
		ok, err := mustCompile(t, src).Allow(context.Background(), sampleInput())
		if src == `int(notification.raw.app_id) > 0` {
			// 2021000000000001 is a valid int: this one allows; it shows the
			// raw string converts when it can.
			if err != nil || !ok {
				t.Errorf("%s: %v, %v", src, ok, err)
			}
			continue
		}
		if ok || err == nil {
			t.Errorf("%s: got %v, %v; want a denial with an error", src, ok, err)
		}
	}
}

func TestCostLimit(t *testing.T) {
	// Five nested comprehensions over ten elements: 100000 iterations, past
	// the limit.
	l := "[0,1,2,3,4,5,6,7,8,9]"
	src := l + ".all(a, " + l + ".all(b, " + l + ".all(c, " + l + ".all(d, " + l + ".all(e, a+b+c+d+e >= 0)))))"
	p := mustCompile(t, src)
	start := time.Now()
	ok, err := p.Allow(context.Background(), sampleInput())
	if ok || err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("got %v, %v; want a cost-limit denial", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the cost limit took %s to stop the policy", d)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, src string
		line, col int
		msg       string
	}{
		{"syntax", "notification.amount ==", 1, 23, "Syntax error"},
		{"syntax on line 2", "// comment\nnotification.amount = 3", 2, 21, "Syntax error"},
		{"unknown variable", "notifcation.amount == 1", 1, 1, "undeclared reference to 'notifcation'"},
		{"unknown field", "notification.amout == 1", 1, 13, "undefined field 'amout'"},
		{"type error", `notification.amount == "1234"`, 1, 21, "found no matching overload for '_==_'"},
		{"type error on query", `query.amount > "3"`, 1, 14, "found no matching overload"},
		{"non-boolean", "notification.amount + 1", 1, 1, "must be a boolean expression, this one is int"},
		{"non-boolean dyn", "notification.raw.flag", 1, 1, "must be a boolean expression, this one is dyn"},
	}
	for _, c := range cases {
		_, err := Compile("policies/x.cel", c.src)
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v is not a *CompileError", c.name, err)
			continue
		}
		if ce.Name != "policies/x.cel" || len(ce.Issues) == 0 {
			t.Errorf("%s: %+v", c.name, ce)
			continue
		}
		is := ce.Issues[0]
		if is.Line != c.line || is.Column != c.col || !strings.Contains(is.Message, c.msg) {
			t.Errorf("%s: got %d:%d %q; want %d:%d containing %q", c.name, is.Line, is.Column, is.Message, c.line, c.col, c.msg)
		}
		if !strings.HasPrefix(err.Error(), "policies/x.cel:") {
			t.Errorf("%s: message %q does not start with the file name", c.name, err)
		}
	}
}

func TestReferencesOrder(t *testing.T) {
	for src, want := range map[string]bool{
		`order != null && order.amount == notification.amount`: true,
		`order == null`:                 true,
		`notification.amount > 0`:       false,
		`notification.raw.order == "x"`: false, // a raw field called order is not the variable
		`cel.bind(order, 3, order > 2)`: false, // nor is a bound name that shadows it
		`[1].all(order, order > 0)`:     false,
		`[1].all(x, order.amount > x)`:  true,
		`cel.bind(o, order, o == null)`: true,
	} {
		if got := mustCompile(t, src).ReferencesOrder(); got != want {
			t.Errorf("%s: ReferencesOrder %v, want %v", src, got, want)
		}
	}
}

func TestDefaultsWithoutTimeAndType(t *testing.T) {
	in := sampleInput()
	in.Time = time.Time{}
	in.Notification.Status = notification.StatusRefunded
	p := mustCompile(t, `request.time > timestamp("2026-01-01T00:00:00Z") && notification.type == "payment.refunded"`)
	p.now = func() time.Time { return testTime }
	if ok, err := p.Allow(context.Background(), in); err != nil || !ok {
		t.Fatalf("%v, %v", ok, err)
	}
}

func TestInlineNameAndIsFile(t *testing.T) {
	if got := InlineName("notification.amount   <\n 100"); got != "notification.amount < 100" {
		t.Errorf("InlineName: %q", got)
	}
	long := InlineName(strings.Repeat("a", 100))
	if n := len([]rune(long)); n != 60 || !strings.HasSuffix(long, "…") {
		t.Errorf("long InlineName %q (%d runes)", long, n)
	}
	for arg, want := range map[string]bool{
		"policies/alipay.cel":                    true,
		"/etc/payguard/my policy.cel":            true,
		`notification.provider == "alipay"`:      false,
		`notification.raw.file.endsWith(".cel")`: false,
	} {
		if IsFile(arg) != want {
			t.Errorf("IsFile(%q) = %v", arg, !want)
		}
	}
}

func TestReferencesDuplicateOf(t *testing.T) {
	for src, want := range map[string]bool{
		`notification.duplicate_of == ""`:                      true,
		`has(notification.duplicate_of)`:                       true,
		`cel.bind(n, notification, n.duplicate_of == "")`:      true,
		`notification.transaction_id != ""`:                    false,
		`notification.raw.duplicate_of == ""`:                  false, // a raw field of that name
		`{"duplicate_of": 1}.duplicate_of == 1`:                false,
		`order == null || notification.amount == order.amount`: false,
	} {
		if got := mustCompile(t, src).ReferencesDuplicateOf(); got != want {
			t.Errorf("%s: ReferencesDuplicateOf %v, want %v", src, got, want)
		}
	}
}

// The policies of one input share its variables, field values included;
// another input is seen afresh by the same programs.
func TestPoliciesShareOneInput(t *testing.T) {
	cny := mustCompile(t, `notification.currency == "CNY" && notification.raw.app_id == "2021000000000001"`)
	notUSD := mustCompile(t, `notification.currency != "USD" && "app_id" in notification.raw`)
	in := sampleInput()
	for _, p := range []*Program{cny, notUSD, cny} {
		if ok, err := p.Allow(context.Background(), in); !ok || err != nil {
			t.Fatalf("%s: %v, %v", p.Source(), ok, err)
		}
	}
	usd := sampleInput()
	usd.Notification.Currency = "USD"
	usd.Notification.Raw = map[string]any{}
	for _, p := range []*Program{cny, notUSD} {
		if ok, _ := p.Allow(context.Background(), usd); ok {
			t.Errorf("%s allowed a USD notification after a CNY one", p.Source())
		}
	}
}
