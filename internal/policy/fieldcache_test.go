package policy

import (
	"context"
	"testing"
)

// A field several policies name is read through CEL once per input and
// the same value returned after; a new input reads afresh.
func TestFieldCachePerInput(t *testing.T) {
	p := mustCompile(t, `notification.currency == "CNY"`)
	q := mustCompile(t, `notification.currency == "CNY" && notification.raw.size() >= 0`)
	in := sampleInput()
	for _, pol := range []*Program{p, q, p} {
		if ok, err := pol.Allow(context.Background(), in); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	slot := fieldSlot(typeNotification, "currency")
	if slot < 0 || in.vars.n.fields.get(slot) == nil {
		t.Fatalf("currency not cached (slot %d)", slot)
	}
	other := sampleInput()
	other.Notification.Currency = "HKD"
	if ok, err := p.Allow(context.Background(), other); ok || err != nil {
		t.Errorf("a new input saw the cached currency: %v, %v", ok, err)
	}
}

// Past the cache's few values, fields are read uncached and still right.
func TestFieldCacheFull(t *testing.T) {
	in := sampleInput()
	n := in.Notification
	src := `notification.currency == "CNY" && notification.provider == "alipay" && notification.id == "evt-1" && notification.out_trade_no == "order-1" && notification.amount == 1234 && notification.status == "paid"`
	for range 2 {
		if ok, err := mustCompile(t, src).Allow(context.Background(), in); !ok || err != nil {
			t.Fatalf("%v, %v (input %s %s %s %s %d %s)", ok, err, n.Currency, n.Provider, n.EventID, n.OutTradeNo, n.Amount, n.Status)
		}
	}
	if used := in.vars.n.fields.used; used != cachedValues {
		t.Errorf("%d values cached, want %d", used, cachedValues)
	}
}
