package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Watch is an order payguard has evidence of but no delivered notification
// for (DESIGN.md section 11): the recovery worker of its provider and
// namespace asks the provider about it at the schedule's offsets.
type Watch struct {
	// Provider is the provider name; watches are per provider within a
	// namespace, so two providers sharing an order namespace never query
	// each other's orders.
	Provider   string `json:"provider"`
	OutTradeNo string `json:"out_trade_no"`
	// Amount and Currency are what the shop registered, when it did
	// (HasAmount); the query's answer must agree with them.
	HasAmount bool   `json:"has_amount,omitempty"`
	Amount    int64  `json:"amount,omitempty"`
	Currency  string `json:"currency,omitempty"`
	// Hints are the extra fields the provider's query by order number
	// needs (UnionPay's txn_time), see provider.WithOrderHints.
	Hints map[string]string `json:"hints,omitempty"`
	// Since is when the order was first seen; the schedule's offsets count
	// from it.
	Since time.Time `json:"since"`
	// Attempt is the index of the schedule offset the next query is due at.
	Attempt int `json:"attempt"`

	// lease identifies the caller's hold on a watch TakeDueWatches
	// returned: only the holder reschedules it, so an instance whose lease
	// ran out (and whose watch another instance took) changes nothing.
	lease int64
}

// Watcher is the store part of lost-callback recovery. Watched orders and
// their due times live in the store, so a fleet makes one query per due
// order (TakeDueWatches hands each due watch to one caller for a lease)
// and an instance that dies loses no watch (its lease runs out, the watch
// is due again). Times are the caller's clock, so every instance of a
// fleet must keep time (NTP); a skew only shifts a query, it never loses
// or doubles one.
type Watcher interface {
	// WatchOrder starts watching w.Provider's order w.OutTradeNo in ns,
	// due at once (the worker then waits for the schedule's first offset
	// after w.Since). An order already watched keeps its watch: the first
	// registration wins. ttl bounds how long a watch nobody takes lives.
	// started is false when the order was watched already.
	WatchOrder(ctx context.Context, ns string, w Watch, ttl time.Duration) (started bool, err error)
	// TakeDueWatches hands the caller up to max watches of provider in ns
	// that are due at now, each held until now+lease; nobody else gets them
	// meanwhile.
	TakeDueWatches(ctx context.Context, ns, provider string, now time.Time, lease time.Duration, max int) ([]Watch, error)
	// RescheduleWatch makes a held watch due at due again, with its Attempt
	// as given. held is false when the caller's lease was lost (the watch
	// was taken by another caller, or ended): nothing changes then.
	RescheduleWatch(ctx context.Context, ns string, w Watch, due time.Time) (held bool, err error)
	// EndWatch stops watching an order, held or not (a delivered
	// notification ends its order's watch wherever it is).
	EndWatch(ctx context.Context, ns, provider, outTradeNo string) error
}

const (
	kindTxn   = "txn"
	kindWatch = "watch"
)

// watchKeys returns the sorted set of due times and the hash of watch
// details of ns. The namespace is wrapped in a hash tag so both share a
// Redis Cluster slot and one script can touch them.
func watchKeys(prefix, ns string) (zset, data string) {
	base := prefix + "{" + ns + "}:" + kindWatch
	return base, base + ":data"
}

// watchMember names a watch inside its namespace: provider names hold no
// colon, so the first colon separates them.
func watchMember(providerName, outTradeNo string) string {
	return providerName + ":" + outTradeNo
}

func checkWatch(ns string, w Watch) error {
	if err := firstErr(checkID("namespace", ns), checkID("provider", w.Provider), checkID("out_trade_no", w.OutTradeNo)); err != nil {
		return err
	}
	if strings.Contains(w.Provider, ":") {
		return fmt.Errorf("%w: provider %q holds a colon", errInvalid, w.Provider)
	}
	if w.Since.IsZero() {
		return fmt.Errorf("%w: watch without a first-seen time", errInvalid)
	}
	return nil
}

func encodeWatch(w Watch) (string, error) {
	b, err := json.Marshal(w)
	return string(b), err
}

func decodeWatch(s string, lease int64) (Watch, error) {
	var w Watch
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return Watch{}, fmt.Errorf("%w: a watch record that is not JSON: %v", ErrUnavailable, err)
	}
	w.lease = lease
	return w, nil
}

// memWatch is a watch in the memory store.
type memWatch struct {
	w       Watch
	due     int64 // unix ms
	expires time.Time
}

func (m *Memory) watchMap(ns string) map[string]*memWatch {
	if m.watches == nil {
		m.watches = map[string]map[string]*memWatch{}
	}
	ws := m.watches[ns]
	if ws == nil {
		ws = map[string]*memWatch{}
		m.watches[ns] = ws
	}
	return ws
}

// WatchOrder implements Watcher.
func (m *Memory) WatchOrder(ctx context.Context, ns string, w Watch, ttl time.Duration) (bool, error) {
	if err := firstErr(checkWatch(ns, w), checkDuration("ttl", ttl)); err != nil {
		return false, err
	}
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	ws, now := m.watchMap(ns), m.now()
	member := watchMember(w.Provider, w.OutTradeNo)
	if e, ok := ws[member]; ok && now.Before(e.expires) {
		e.expires = now.Add(ttl)
		return false, nil
	}
	w.lease = 0
	// Clones, as recordPaymentLocked's: views into a notification body
	// must not outlive the request.
	w.Provider, w.OutTradeNo = strings.Clone(w.Provider), strings.Clone(w.OutTradeNo)
	ws[member] = &memWatch{w: w, due: w.Since.UnixMilli(), expires: now.Add(ttl)}
	return true, nil
}

// TakeDueWatches implements Watcher.
func (m *Memory) TakeDueWatches(ctx context.Context, ns, providerName string, now time.Time, lease time.Duration, max int) ([]Watch, error) {
	if err := firstErr(checkID("namespace", ns), checkID("provider", providerName), checkDuration("lease", lease)); err != nil {
		return nil, err
	}
	if max < 1 {
		return nil, fmt.Errorf("%w: max must be at least 1", errInvalid)
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ws, clock := m.watchMap(ns), m.now()
	var due []*memWatch
	for member, e := range ws {
		if !clock.Before(e.expires) {
			delete(ws, member)
			continue
		}
		if e.w.Provider == providerName && e.due <= now.UnixMilli() {
			due = append(due, e)
		}
	}
	// Earliest first, as Redis's sorted set hands them out.
	sort.Slice(due, func(i, j int) bool { return due[i].due < due[j].due })
	if len(due) > max {
		due = due[:max]
	}
	out := make([]Watch, 0, len(due))
	until := now.Add(lease).UnixMilli()
	for _, e := range due {
		e.due = until
		w := e.w
		w.lease = until
		out = append(out, w)
	}
	return out, nil
}

// RescheduleWatch implements Watcher.
func (m *Memory) RescheduleWatch(ctx context.Context, ns string, w Watch, due time.Time) (bool, error) {
	if err := checkWatch(ns, w); err != nil {
		return false, err
	}
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	e, ok := m.watchMap(ns)[watchMember(w.Provider, w.OutTradeNo)]
	if !ok || w.lease == 0 || e.due != w.lease || !m.now().Before(e.expires) {
		return false, nil
	}
	held := w
	held.lease = 0
	e.w, e.due = held, due.UnixMilli()
	return true, nil
}

// EndWatch implements Watcher.
func (m *Memory) EndWatch(ctx context.Context, ns, providerName, outTradeNo string) error {
	if err := firstErr(checkID("namespace", ns), checkID("provider", providerName), checkID("out_trade_no", outTradeNo)); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.watchMap(ns), watchMember(providerName, outTradeNo))
	return nil
}
