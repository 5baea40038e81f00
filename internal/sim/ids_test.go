package sim

import (
	"testing"
	"time"
)

// Every sandbox gives the orders it prepares in one instant distinct event
// and transaction ids, as a provider does: the fault harness and the load
// tool prepare thousands at once, and two notifications sharing an event
// id are one event to payguard (the second acknowledged as a duplicate,
// never delivered).
func TestPreparedIDsAreDistinct(t *testing.T) {
	now := time.Now()
	for _, p := range testKeys(t) {
		t.Run(p.Name(), func(t *testing.T) {
			events, txns := map[string]bool{}, map[string]bool{}
			for range 3000 {
				o := prepared(t, p, Order{Amount: 100}, now)
				if o.EventID != "" {
					if events[o.EventID] {
						t.Fatalf("event id %q prepared twice", o.EventID)
					}
					events[o.EventID] = true
				}
				if o.TransactionID != "" {
					if txns[o.TransactionID] {
						t.Fatalf("transaction id %q prepared twice", o.TransactionID)
					}
					txns[o.TransactionID] = true
				}
			}
		})
	}
}
