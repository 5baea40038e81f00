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
	if slot < 0 || in.vars.n.fields.vals[slot] == nil {
		t.Fatalf("currency not cached (slot %d)", slot)
	}
	other := sampleInput()
	other.Notification.Currency = "HKD"
	if ok, err := p.Allow(context.Background(), other); ok || err != nil {
		t.Errorf("a new input saw the cached currency: %v, %v", ok, err)
	}
}
