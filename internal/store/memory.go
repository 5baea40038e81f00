package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// DefaultSweepInterval is how often a Memory store drops expired entries.
// Expiry itself is exact (every read checks the deadline); the sweep only
// bounds memory held by keys nobody asks about again, such as nonces.
const DefaultSweepInterval = time.Minute

// Memory is the single-instance Store: a mutex-guarded map with deadlines.
// It is the embedded default; state is lost on restart, which at worst lets
// a provider's retry of an already delivered event through once more (the
// shop's own idempotency is then the last line) — use Redis where that
// matters or where several instances run.
type Memory struct {
	prefix string
	now    func() time.Time // injectable for tests

	mu      sync.Mutex
	entries map[string]memEntry
	watches map[string]map[string]*memWatch // namespace → provider:out_trade_no
	closed  bool

	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

type memEntry struct {
	value   string
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store whose keys carry prefix (only
// visible in tests and debugging; it keeps key layout identical to Redis). A
// background janitor sweeps expired entries every DefaultSweepInterval until
// Close.
func NewMemory(prefix string) *Memory {
	return newMemory(prefix, time.Now, DefaultSweepInterval)
}

func newMemory(prefix string, now func() time.Time, sweep time.Duration) *Memory {
	m := &Memory{
		prefix:  prefix,
		now:     now,
		entries: make(map[string]memEntry),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go m.janitor(sweep)
	return m
}

func (m *Memory) janitor(every time.Duration) {
	defer close(m.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep drops every expired entry.
func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
	}
}

// get returns the live entry under k; an expired one is deleted and reported
// absent. m.mu must be held.
func (m *Memory) get(k string, now time.Time) (memEntry, bool) {
	e, ok := m.entries[k]
	if !ok {
		return memEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(m.entries, k)
		return memEntry{}, false
	}
	return e, true
}

// lock takes m.mu and fails when the store is closed or ctx is done, so that
// the memory store honours the same contract as Redis: an abandoned request
// changes nothing.
func (m *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("%w: memory store closed", ErrUnavailable)
	}
	return nil
}

// ClaimEvent implements Store.
func (m *Memory) ClaimEvent(ctx context.Context, ns, eventID string, lease time.Duration) (Claim, error) {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkDuration("lease", lease)); err != nil {
		return Claim{}, err
	}
	if err := m.lock(ctx); err != nil {
		return Claim{}, err
	}
	defer m.mu.Unlock()
	return m.claimLocked(ns, eventID, lease, m.now()), nil
}

// claimLocked claims the event eventID of ns; m.mu must be held. The key,
// its in-flight value and the token are one allocation (keyFor), the
// token made only once the event is found absent.
func (m *Memory) claimLocked(ns, eventID string, lease time.Duration, now time.Time) Claim {
	var b strings.Builder
	k := keyFor(&b, m.prefix, ns, kindEvent, eventID, len(inFlightPrefix)+tokenLen)
	if e, ok := m.get(k, now); ok {
		if strings.HasPrefix(e.value, donePrefix) {
			return Claim{State: Done}
		}
		return Claim{State: InFlight}
	}
	var tok [tokenLen]byte
	b.WriteString(inFlightPrefix)
	b.Write(appendToken(tok[:0]))
	k, v := entryAfter(&b, k)
	m.entries[k] = memEntry{value: v, expires: now.Add(lease)}
	return Claim{State: Claimed, Token: v[len(inFlightPrefix):]}
}

// CompleteEvent implements Store. A claim whose lease ran out without anyone
// taking the event over is still completed: the shop accepted the
// notification, so remembering it as done is what prevents a second
// delivery. A claim taken over by another token is left alone.
func (m *Memory) CompleteEvent(ctx context.Context, ns, eventID, token string, ttl time.Duration) error {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkID("token", token), checkDuration("ttl", ttl)); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.completeLocked(ns, eventID, token, ttl, m.now())
	return nil
}

// ReleaseEvent implements Store.
func (m *Memory) ReleaseEvent(ctx context.Context, ns, eventID, token string) error {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkID("token", token)); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	k := key(m.prefix, ns, kindEvent, eventID)
	if e, ok := m.get(k, m.now()); ok && hasToken(e.value, inFlightPrefix, token) {
		delete(m.entries, k)
	}
	return nil
}

// RenewEvent implements Store.
func (m *Memory) RenewEvent(ctx context.Context, ns, eventID, token string, lease time.Duration) (bool, error) {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkID("token", token), checkDuration("lease", lease)); err != nil {
		return false, err
	}
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	k := key(m.prefix, ns, kindEvent, eventID)
	now := m.now()
	e, ok := m.get(k, now)
	if !ok || !hasToken(e.value, inFlightPrefix, token) {
		return false, nil
	}
	e.expires = now.Add(lease)
	m.entries[k] = e
	return true, nil
}

// RecordNonce implements Store.
func (m *Memory) RecordNonce(ctx context.Context, ns, nonce string, ttl time.Duration) (bool, error) {
	if err := firstErr(checkID("namespace", ns), checkID("nonce", nonce), checkDuration("ttl", ttl)); err != nil {
		return false, err
	}
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	k := key(m.prefix, ns, kindNonce, nonce)
	now := m.now()
	if _, ok := m.get(k, now); ok {
		return false, nil
	}
	m.entries[k] = memEntry{value: "1", expires: now.Add(ttl)}
	return true, nil
}

// RecordPayment implements Store. An empty order number or transaction id
// records nothing and reports no earlier payment: there is nothing to
// compare, and a provider without transaction ids must not make every order
// look paid twice.
func (m *Memory) RecordPayment(ctx context.Context, ns, outTradeNo, transactionID string, ttl time.Duration) (string, error) {
	if err := firstErr(checkID("namespace", ns), checkDuration("ttl", ttl)); err != nil {
		return "", err
	}
	if outTradeNo == "" || transactionID == "" {
		return "", nil
	}
	if err := m.lock(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	return m.recordPaymentLocked(ns, outTradeNo, transactionID, ttl, m.now()), nil
}

// recordPaymentLocked records transactionID under the order key of ns and
// outTradeNo unless another is there, which it returns; m.mu must be held.
func (m *Memory) recordPaymentLocked(ns, outTradeNo, transactionID string, ttl time.Duration, now time.Time) string {
	var b strings.Builder
	k := keyFor(&b, m.prefix, ns, kindPayment, outTradeNo, len(transactionID))
	if e, ok := m.get(k, now); ok {
		if e.value == transactionID {
			return ""
		}
		return e.value
	}
	// A copy (behind the key, in one allocation): the caller's string may
	// be a slice of the whole notification body (the parsers hand out
	// views into one copy), which must not stay in memory for dedup_ttl.
	b.WriteString(transactionID)
	k, v := entryAfter(&b, k)
	m.entries[k] = memEntry{value: v, expires: now.Add(ttl)}
	return ""
}

// Close stops the janitor and makes every later operation fail with
// ErrUnavailable. It is safe to call more than once.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.entries = nil
		m.watches = nil
		m.mu.Unlock()
		close(m.stop)
		<-m.stopped
	})
	return nil
}

// len reports the number of entries, live or not yet swept (tests).
func (m *Memory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
