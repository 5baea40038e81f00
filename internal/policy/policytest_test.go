package policy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var runAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestRunTestsExitStatus(t *testing.T) {
	cases := []struct {
		name     string
		policies []string
		cases    []string
		code     int
		out      []string
	}{
		{"all matched", []string{"testdata/ok.cel"}, []string{"testdata/cases"}, ExitMatched,
			[]string{"ok   allow testdata/cases/a-small.json", "ok   deny  testdata/cases/b-large.json  (testdata/ok.cel: notification.amount < 10000 is false)", "all 2 cases"}},
		{"one file", []string{"testdata/ok.cel"}, []string{"testdata/cases/a-small.json"}, ExitMatched, []string{"all 1 cases"}},
		{"compile error", []string{"testdata/ok.cel", "testdata/broken.cel"}, []string{"testdata/cases"}, ExitCompile,
			[]string{"compile error: testdata/broken.cel:3:1: Syntax error"}},
		{"missing policy file", []string{"testdata/none.cel"}, []string{"testdata/cases"}, ExitCompile, []string{"no such file"}},
		{"no cases given", []string{"testdata/ok.cel"}, nil, ExitCompile, []string{"usage"}},
		{"folder without cases", []string{"testdata/ok.cel"}, []string{"testdata/empty"}, ExitMismatch, []string{"no .json case files"}},
		{"missing case", []string{"testdata/ok.cel"}, []string{"testdata/none.json"}, ExitMismatch, []string{"no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := RunTests(&out, c.policies, c.cases, runAt); code != c.code {
				t.Errorf("exit %d, want %d:\n%s", code, c.code, out.String())
			}
			for _, want := range c.out {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestRunTestsMismatch(t *testing.T) {
	dir := t.TempDir()
	// The same large case expecting allow: the policy denies it.
	b, _ := os.ReadFile("testdata/cases/b-large.json")
	b = bytes.Replace(b, []byte(`"expect":"deny"`), []byte(`"expect":"allow"`), 1)
	if err := os.WriteFile(filepath.Join(dir, "large.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := RunTests(&out, []string{"testdata/ok.cel"}, []string{dir, "testdata/cases/a-small.json"}, runAt)
	if code != ExitMismatch {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	for _, want := range []string{"FAIL deny ", "large.json", "expected allow", "ok   allow testdata/cases/a-small.json", "1 of 2 cases"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseCase(t *testing.T) {
	full := `{"id":"e","provider":"wechatpay_v3","type":"TRANSACTION.SUCCESS","out_trade_no":"o","transaction_id":"t",
		"amount":5,"currency":"CNY","status":"paid","occurred_at":"2026-01-02T03:04:05Z","refund_amount":0,"refund_id":"",
		"duplicate_of":"t0","query":{"status":"paid","amount":5,"currency":"CNY","out_trade_no":"o"},
		"raw":{"amount":{"total":5}},"order":{"amount":5,"currency":"CNY","status":"unpaid"},
		"request":{"remote_ip":"::ffff:10.0.0.1","headers":{"wechatpay-serial":"S1"},"path":"/n","time":"2026-01-02T04:00:00+08:00"},"expect":"allow"}`
	c, err := ParseCase("full.json", []byte(full), runAt)
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, `notification.raw.amount.total == 5 && notification.duplicate_of == "t0" && order.status == "unpaid" &&
		request.headers["Wechatpay-Serial"] == "S1" && request.remote_ip == "::ffff:10.0.0.1" &&
		request.time == timestamp("2026-01-01T20:00:00Z") && query.amount == 5 && notification.occurred_at.getHours() == 3`)
	if ok, err := p.Allow(context.Background(), c.Input); !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}

	// request.time defaults to the run's time; expect to allow.
	c, err = ParseCase("min.json", []byte(`{"id":"e","amount":1}`), runAt)
	if err != nil || c.Expect != Allow || !c.Input.Time.Equal(runAt) {
		t.Fatalf("%+v %v", c, err)
	}

	for name, bad := range map[string]string{
		"unknown key":     `{"id":"e","expected":"deny"}`,
		"unknown nested":  `{"id":"e","request":{"remote-ip":"1.2.3.4"}}`,
		"bad expect":      `{"id":"e","expect":"maybe"}`,
		"bad ip":          `{"id":"e","request":{"remote_ip":"nope"}}`,
		"fraction amount": `{"id":"e","amount":12.5}`,
		"bad time":        `{"id":"e","occurred_at":"yesterday"}`,
		"trailing data":   `{"id":"e"} {}`,
		"not an object":   `[]`,
		"query with raw":  `{"id":"e","query":{"raw":{}}}`,
	} {
		if _, err := ParseCase(name+".json", []byte(bad), runAt); err == nil || !strings.Contains(err.Error(), name+".json") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// FuzzParseCase: no case file panics the parser, and a parsed case
// evaluates without panicking.
func FuzzParseCase(f *testing.F) {
	for _, p := range []string{"testdata/cases/a-small.json", "../../policies/alipay/paid.json", "../../policies/business-hours/refund-saturday.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p, err := Compile("f", `notification.amount > 0 && request.headers["X-A"] == "b" || query.amount == 1 || order.amount == 1`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCase("fuzz.json", b, runAt)
		if err != nil {
			return
		}
		_ = Evaluate(context.Background(), []*Program{p}, c)
	})
}
