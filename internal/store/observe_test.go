package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// storeArgs builds arguments for a Store method from its parameter types,
// valid enough to pass every store's argument checks.
func storeArgs(t *testing.T, ctx context.Context, m reflect.Method) []reflect.Value {
	t.Helper()
	var args []reflect.Value
	for i := 0; i < m.Type.NumIn(); i++ {
		switch in := m.Type.In(i); in {
		case reflect.TypeFor[context.Context]():
			args = append(args, reflect.ValueOf(ctx))
		case reflect.TypeFor[string]():
			args = append(args, reflect.ValueOf(SourceNotify))
		case reflect.TypeFor[time.Duration]():
			args = append(args, reflect.ValueOf(time.Minute))
		case reflect.TypeFor[time.Time]():
			args = append(args, reflect.ValueOf(time.Now()))
		case reflect.TypeFor[int]():
			args = append(args, reflect.ValueOf(1))
		case reflect.TypeFor[Completion]():
			args = append(args, reflect.ValueOf(Completion{OrderNS: "ns", TransactionID: "t", TxnToken: "x", Source: SourceNotify,
				EventID: "e", Provider: "p", OutTradeNo: "o-1", TTL: time.Minute}))
		case reflect.TypeFor[Watch]():
			args = append(args, reflect.ValueOf(Watch{Provider: "p", OutTradeNo: "o-1", Since: time.Now()}))
		case reflect.TypeFor[Admission]():
			args = append(args, reflect.ValueOf(Admission{NS: "p", EventID: "e-1", Lease: time.Minute, Nonce: "n-1", NonceTTL: time.Minute,
				Payment: &Payment{NS: "p", OutTradeNo: "o-1", TransactionID: "t-1", TTL: time.Minute}}))
		default:
			t.Fatalf("Store.%s takes a %v: give storeArgs a value of that type", m.Name, in)
		}
	}
	return args
}

// callErr calls method name of s with args and returns its error result.
func callErr(t *testing.T, s Store, name string, args []reflect.Value) error {
	t.Helper()
	out := reflect.ValueOf(s).MethodByName(name).Call(args)
	last := out[len(out)-1]
	if last.Type() != reflect.TypeFor[error]() {
		t.Fatalf("Store.%s returns no error last: nothing to observe; decide what Observe does with it", name)
	}
	err, _ := last.Interface().(error)
	return err
}

// TestObserveWrapsEveryMethod walks the Store interface: every method but
// Close, on a closed store (each fails with ErrUnavailable), is reported
// once under its own name with the error passed through; the same call on
// an open store, or with the caller's context canceled, reports nothing;
// a deadline that ran out is the store's failure and is reported.
func TestObserveWrapsEveryMethod(t *testing.T) {
	closed := NewMemory("obs:")
	_ = closed.Close()
	open := NewMemory("obs:")
	t.Cleanup(func() { _ = open.Close() })
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	st := reflect.TypeFor[Store]()
	if st.NumMethod() < 13 {
		t.Fatalf("Store has %d methods", st.NumMethod())
	}
	for i := 0; i < st.NumMethod(); i++ {
		m := st.Method(i)
		if m.Name == "Close" {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			var ops []string
			report := func(op string) { ops = append(ops, op) }

			args := storeArgs(t, context.Background(), m)
			raw := callErr(t, closed, m.Name, args)
			if !errors.Is(raw, ErrUnavailable) {
				t.Fatalf("the closed store's %s: %v, want ErrUnavailable", m.Name, raw)
			}
			if got := callErr(t, Observe(closed, report), m.Name, args); got == nil || got.Error() != raw.Error() {
				t.Fatalf("observed %s returned %v, the store %v", m.Name, got, raw)
			}
			if len(ops) != 1 || ops[0] != m.Name {
				t.Fatalf("a failed %s reported %v, want [%s]", m.Name, ops, m.Name)
			}

			ops = nil
			if err := callErr(t, Observe(open, report), m.Name, args); err != nil {
				t.Fatalf("open store's %s: %v", m.Name, err)
			}
			err := callErr(t, Observe(open, report), m.Name, storeArgs(t, canceled, m))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%s with a canceled context: %v", m.Name, err)
			}
			if len(ops) != 0 {
				t.Fatalf("a success and a caller's cancellation reported %v", ops)
			}
			_ = callErr(t, Observe(open, report), m.Name, storeArgs(t, expired, m))
			if len(ops) != 1 {
				t.Fatalf("%s past its deadline reported %v", m.Name, ops)
			}
		})
	}
}

func TestObserveUnwrap(t *testing.T) {
	m := NewMemory("obs:")
	defer m.Close()
	o := Observe(m, func(string) {})
	u, ok := o.(interface{ Unwrap() Store })
	if !ok || u.Unwrap() != Store(m) {
		t.Fatalf("Unwrap: %v %v", ok, u)
	}
}
