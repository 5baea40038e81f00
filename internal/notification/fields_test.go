package notification

import "testing"

// TestDeferRawBuildsOnceOnFirstUse: a deferred Raw costs nothing until
// Fields asks, is built once however often it is asked, and travels with
// the notification when the pipeline copies it.
func TestDeferRawBuildsOnceOnFirstUse(t *testing.T) {
	builds := 0
	var n Notification
	n.DeferRaw(func() map[string]any {
		builds++
		return map[string]any{"trade_status": "TRADE_SUCCESS"}
	})
	if builds != 0 || n.Raw != nil {
		t.Fatalf("built before use: %d builds, Raw %v", builds, n.Raw)
	}
	copied := n // the pipeline keeps its own copy of the provider's notification
	for range 3 {
		if got := copied.Fields()["trade_status"]; got != "TRADE_SUCCESS" {
			t.Fatalf("Fields: trade_status = %v", got)
		}
	}
	if builds != 1 {
		t.Fatalf("%d builds for three reads, want 1", builds)
	}
	if copied.Raw == nil {
		t.Fatal("Fields left Raw unset")
	}
}

// TestFieldsWithoutDeferIsRaw: a provider that sets Raw itself, or none,
// reads the same through Fields.
func TestFieldsWithoutDeferIsRaw(t *testing.T) {
	n := Notification{Raw: map[string]any{"id": "evt_1"}}
	if n.Fields()["id"] != "evt_1" {
		t.Fatalf("Fields %v", n.Fields())
	}
	var empty Notification
	if empty.Fields() != nil {
		t.Fatalf("Fields of a notification without fields: %v", empty.Fields())
	}
	// Setting Raw after a deferral wins: DeferRaw's build is for a nil Raw.
	m := Notification{}
	m.DeferRaw(func() map[string]any { t.Fatal("built although Raw was set"); return nil })
	m.Raw = map[string]any{"k": "v"}
	if m.Fields()["k"] != "v" {
		t.Fatalf("Fields %v", m.Fields())
	}
}
