package store

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestMemoryKeysFollowTheRedisLayout(t *testing.T) {
	m := newMemory("pg:", time.Now, time.Hour)
	defer m.Close()
	c, _ := m.ClaimEvent(ctx, "alipay", "e1", time.Minute)
	_, _ = m.RecordNonce(ctx, "stripe", "n1", time.Minute)
	_, _ = m.RecordPayment(ctx, "shop", "o1", "t1", time.Minute)
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]string{
		"pg:alipay:evt:e1":   "f:" + c.Token,
		"pg:stripe:nonce:n1": "1",
		"pg:shop:order:o1":   "t1",
	}
	for k, v := range want {
		if got := m.entries[k].value; got != v {
			t.Errorf("entry %q = %q, want %q", k, got, v)
		}
	}
	if len(m.entries) != len(want) {
		t.Errorf("%d entries, want %d: %v", len(m.entries), len(want), m.entries)
	}
}

// Nonces are written once and never read again; without the sweep they
// would pile up for the life of the process.
func TestMemorySweepDropsExpiredEntries(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	m := newMemory("", clock.now, time.Millisecond)
	defer m.Close()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := m.RecordNonce(ctx, "ns", n, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.RecordNonce(ctx, "ns", "long", time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for m.len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries, want 1", m.len())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMemoryClose(t *testing.T) {
	m := NewMemory("")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.stopped:
	default:
		t.Fatal("Close returned with the janitor still running")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.ClaimEvent(ctx, "ns", "id", time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ClaimEvent after Close: %v, want ErrUnavailable", err)
	}
	if err := m.CompleteEvent(ctx, "ns", "id", "tok", time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("CompleteEvent after Close: %v, want ErrUnavailable", err)
	}
	if _, err := m.RecordPayment(ctx, "ns", "o", "t", time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RecordPayment after Close: %v, want ErrUnavailable", err)
	}
}

// TestMemoryKeepsNoViewOfTheCallersStrings: the parsers hand out values
// that are slices of one copy of the notification body, so what the
// memory store keeps past the call must be its own copy, or every paid
// order would hold its whole body for dedup_ttl.
func TestMemoryKeepsNoViewOfTheCallersStrings(t *testing.T) {
	m := NewMemory("t:")
	defer m.Close()
	body := "out_trade_no=o-1&trade_no=2026120122001400000000000001&provider=alipay"
	value := func(name string) string {
		i := strings.Index("&"+body, "&"+name+"=") + len(name) + 1
		return body[i : i+strings.IndexByte(body[i:]+"&", '&')]
	}
	txn, order, prov := value("trade_no"), value("out_trade_no"), value("provider")
	if txn != "2026120122001400000000000001" || order != "o-1" || prov != "alipay" {
		t.Fatalf("test's own slicing: %q %q %q", txn, order, prov)
	}
	if _, err := m.RecordPayment(ctx, "ns", order, txn, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WatchOrder(ctx, "ns", Watch{Provider: prov, OutTradeNo: order, Since: time.Now()}, time.Hour); err != nil {
		t.Fatal(err)
	}
	lo, hi := uintptr(unsafe.Pointer(unsafe.StringData(body))), uintptr(unsafe.Pointer(unsafe.StringData(body)))+uintptr(len(body))
	inBody := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= lo && p < hi
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if inBody(e.value) {
			t.Errorf("entry %q keeps a view of the caller's body: %q", k, e.value)
		}
	}
	for _, ws := range m.watches {
		for member, w := range ws {
			if inBody(w.w.Provider) || inBody(w.w.OutTradeNo) {
				t.Errorf("watch %q keeps a view of the caller's body", member)
			}
		}
	}
	if len(m.entries) == 0 || len(m.watches) == 0 {
		t.Fatalf("nothing recorded: %d entries, %d watch namespaces", len(m.entries), len(m.watches))
	}
}

// TestMemoryEntryIsOneAllocation pins what keyFor saves on every
// notification: claiming an absent event costs one allocation (its key,
// in-flight value and token in one buffer), completing it one (the key and
// the done value), recording a payment one (the key and its copy of the
// transaction id), where they cost three, three and two. The map is sized
// up front so that its growth is not counted.
func TestMemoryEntryIsOneAllocation(t *testing.T) {
	m := newMemory("pg:", time.Now, time.Hour)
	defer m.Close()
	const runs = 100
	m.mu.Lock()
	m.entries = make(map[string]memEntry, 4*runs)
	m.mu.Unlock()
	ids := make([]string, runs+1) // AllocsPerRun calls once more to warm up
	for i := range ids {
		ids[i] = "2026120122001" + strings.Repeat("0", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		id := ids[i]
		i++
		c, err := m.ClaimEvent(ctx, "alipay", id, time.Minute)
		if err != nil || c.State != Claimed {
			t.Fatalf("claim %s: %+v %v", id, c, err)
		}
		if err := m.CompleteEvent(ctx, "alipay", id, c.Token, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := m.RecordPayment(ctx, "shop", id, id, time.Hour); err != nil {
			t.Fatal(err)
		}
	})
	// One token is made (the claim's).
	if want := float64(3 + raceTokenAllocs); allocs > want {
		t.Errorf("claim, complete and payment: %v allocations, want at most %v (one per entry written)", allocs, want)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries["pg:alipay:evt:"+ids[1]]; !strings.HasPrefix(e.value, "d:") || len(e.value) != 2+tokenLen {
		t.Errorf("completed event's value %q, want d: and its token", e.value)
	}
	if e := m.entries["pg:shop:order:"+ids[1]]; e.value != ids[1] {
		t.Errorf("payment's value %q, want %q", e.value, ids[1])
	}
}
