package store

import (
	"errors"
	"testing"
	"time"
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
