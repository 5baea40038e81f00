package providertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
)

type exampleCase struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	N        int    `json:"n"`
}

func TestVectors(t *testing.T) {
	list := Vectors[exampleCase](t, "vectors_example.json")
	if len(list) != 2 || list[0].Name != "first" || list[1].N != 2 {
		t.Fatalf("cases %+v, want both in file order", list)
	}
	byName := VectorsByName[exampleCase](t, "vectors_example.json", "first", "second")
	if len(byName) != 2 || byName["second"].Expected != "invalid" {
		t.Fatalf("by name %+v", byName)
	}
}

// fatalTB records the first Fatalf and stops the loader there, as
// t.Fatalf would.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func fatalOf(load func(testing.TB)) (msg string) {
	tb := &fatalTB{}
	defer func() {
		if r := recover(); r != nil && r != tb {
			panic(r)
		}
		msg = tb.msg
	}()
	load(tb)
	return ""
}

// A vectors test never passes by reading nothing or the wrong thing.
func TestVectorsRefuse(t *testing.T) {
	for want, load := range map[string]func(testing.TB){
		"no such file": func(tb testing.TB) { Vectors[exampleCase](tb, "absent.json") },
		"has no name":  func(tb testing.TB) { VectorsByName[exampleCase](tb, "vectors_unnamed.json") },
		"third missing": func(tb testing.TB) {
			VectorsByName[exampleCase](tb, "vectors_example.json", "third")
		},
	} {
		if msg := fatalOf(load); !strings.Contains(msg, want) {
			t.Errorf("%s: failed with %q", want, msg)
		}
	}
}

type errorTB struct {
	testing.TB
	errs []string
}

func (e *errorTB) Helper() {}

func (e *errorTB) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

// Normalized.Check passes on the sample's fields and fails on any one
// that differs.
func TestNormalizedCheck(t *testing.T) {
	want := Normalized{Amount: 1234, Currency: "CNY", EventID: "e", OutTradeNo: "o", Status: "paid", TransactionID: "x"}
	n := &notification.Notification{Amount: 1234, Currency: "CNY", EventID: "e", OutTradeNo: "o", Status: notification.StatusPaid, TransactionID: "x"}
	tb := &errorTB{}
	want.Check(tb, n)
	if len(tb.errs) != 0 {
		t.Fatalf("equal fields: %v", tb.errs)
	}
	for _, change := range []func(*notification.Notification){
		func(n *notification.Notification) { n.Amount = 1 },
		func(n *notification.Notification) { n.Currency = "USD" },
		func(n *notification.Notification) { n.EventID = "" },
		func(n *notification.Notification) { n.OutTradeNo = "p" },
		func(n *notification.Notification) { n.Status = notification.StatusPending },
		func(n *notification.Notification) { n.TransactionID = "y" },
	} {
		m := *n
		change(&m)
		tb := &errorTB{}
		want.Check(tb, &m)
		if len(tb.errs) != 1 {
			t.Errorf("%+v: %d errors, want 1", m, len(tb.errs))
		}
	}
}
