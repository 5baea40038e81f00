package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The delivery record of a paid transaction (DESIGN.md section 11): the
// one lock the provider's own notification and lost-callback recovery
// share, so that exactly one of them delivers a payment. It lives in the
// order namespace, beside the watches ({prefix}{ns}:txn:{transaction_id},
// the namespace a hash tag, so one script touches it and the watch).

// Delivery sources.
const (
	// SourceNotify: the provider's own notification was forwarded.
	SourceNotify = "notify"
	// SourceRecovered: a recovered payment was delivered (section 11).
	SourceRecovered = "recovered"
	// SourceReported: a recovered payment was reported only (no
	// deliver_to). It is reported once; the provider's own notification,
	// should it come, is still forwarded (and takes the record over).
	SourceReported = "reported"
)

// TxnState is the outcome of ClaimDelivery.
type TxnState int

const (
	// TxnClaimed: the caller now holds the transaction's delivery.
	TxnClaimed TxnState = iota + 1
	// TxnInFlight: another delivery of the transaction holds it.
	TxnInFlight
	// TxnDelivered: the transaction was delivered (or reported) already.
	TxnDelivered
)

// TxnClaim is the result of ClaimDelivery: the caller's token when
// claimed; otherwise the source (and event id) of the holder or of the
// delivery.
type TxnClaim struct {
	State   TxnState
	Token   string
	Source  string
	EventID string
}

// Completion is what CompleteDelivery writes in one step once the shop
// accepted a delivery: the event's claim done, the transaction recorded as
// delivered from Source, the order's watch ended. Each part is optional
// (left empty: not written).
type Completion struct {
	// EventNS, EventID and EventToken name the pipeline's claim of the
	// notification (the provider's namespace).
	EventNS, EventID, EventToken string
	// OrderNS is the order namespace of the transaction record and watch.
	OrderNS string
	// TransactionID and TxnToken name the caller's ClaimDelivery hold;
	// Source is recorded with the event id. A record that is no longer the
	// caller's (taken over after its lease) is left as it is.
	TransactionID, TxnToken, Source string
	// Provider and OutTradeNo name the watch to end.
	Provider, OutTradeNo string
	// TTL is how long the done event and the delivered record are kept.
	TTL time.Duration
}

// Deliveries is the store part of exactly-once delivery between the
// provider's notification and a recovered payment.
type Deliveries interface {
	// ClaimDelivery takes transactionID's delivery in ns for source (the
	// event id is kept with it) for lease: absent → in flight. A record
	// SourceReported is taken over by a SourceNotify claimant (the
	// provider's own notification still reaches the shop).
	ClaimDelivery(ctx context.Context, ns, transactionID, source, eventID string, lease time.Duration) (TxnClaim, error)
	// ReleaseDelivery frees the caller's hold (the delivery failed).
	ReleaseDelivery(ctx context.Context, ns, transactionID, token string) error
	// CompleteDelivery writes c in one atomic step (on a Redis Cluster,
	// where the event's key lives in another slot than the order
	// namespace's, in two: the transaction record and the watch first,
	// then the event; the record names the event, so a retry of it is
	// still known as delivered should the second step fail). Retrying it
	// after an error is safe.
	CompleteDelivery(ctx context.Context, c Completion) error
	// Delivered reports the source transactionID was delivered from, ""
	// when it was not (or is forgotten, or only in flight).
	Delivered(ctx context.Context, ns, transactionID string) (source string, err error)
}

// Transaction record values: in flight "f:<source>:<token>:<event id>",
// delivered "d:<source>:<event id>" (sources and tokens hold no colon).
func txnInFlight(source, token, eventID string) string {
	return "f:" + source + ":" + token + ":" + eventID
}

func txnDone(source, eventID string) string { return "d:" + source + ":" + eventID }

// parseTxn reads a record value; ok false for an unknown shape.
func parseTxn(v string) (state TxnState, source, token, eventID string, ok bool) {
	kind, rest, _ := strings.Cut(v, ":")
	source, rest, found := strings.Cut(rest, ":")
	if !found {
		return 0, "", "", "", false
	}
	switch kind {
	case "f":
		token, eventID, found = strings.Cut(rest, ":")
		return TxnInFlight, source, token, eventID, found
	case "d":
		return TxnDelivered, source, "", rest, true
	}
	return 0, "", "", "", false
}

// txnKey is {prefix}{ns}:txn:{id}, tagged like the watch keys.
func txnKey(prefix, ns, transactionID string) string {
	return prefix + "{" + ns + "}:" + kindTxn + ":" + transactionID
}

func checkClaimDelivery(ns, transactionID, source, eventID string, lease time.Duration) error {
	err := firstErr(checkID("namespace", ns), checkID("transaction id", transactionID), checkID("source", source),
		checkID("event id", eventID), checkDuration("lease", lease))
	if err == nil && strings.Contains(source, ":") {
		err = fmt.Errorf("%w: source %q holds a colon", errInvalid, source)
	}
	return err
}

func checkCompletion(c Completion) error {
	if err := checkDuration("ttl", c.TTL); err != nil {
		return err
	}
	if c.EventToken != "" {
		if err := firstErr(checkID("namespace", c.EventNS), checkID("event id", c.EventID)); err != nil {
			return err
		}
	}
	if c.TransactionID != "" {
		if err := firstErr(checkID("namespace", c.OrderNS), checkID("token", c.TxnToken), checkID("source", c.Source), checkID("event id", c.EventID)); err != nil {
			return err
		}
	}
	if c.OutTradeNo != "" {
		return firstErr(checkID("namespace", c.OrderNS), checkID("provider", c.Provider))
	}
	return nil
}

// ClaimDelivery implements Deliveries.
func (m *Memory) ClaimDelivery(ctx context.Context, ns, transactionID, source, eventID string, lease time.Duration) (TxnClaim, error) {
	if err := checkClaimDelivery(ns, transactionID, source, eventID, lease); err != nil {
		return TxnClaim{}, err
	}
	if err := m.lock(ctx); err != nil {
		return TxnClaim{}, err
	}
	defer m.mu.Unlock()
	k, now := txnKey(m.prefix, ns, transactionID), m.now()
	if e, ok := m.get(k, now); ok {
		st, src, _, ev, _ := parseTxn(e.value)
		if !(st == TxnDelivered && src == SourceReported && source == SourceNotify) {
			return TxnClaim{State: st, Source: src, EventID: ev}, nil
		}
	}
	tok := newToken()
	m.entries[k] = memEntry{value: txnInFlight(source, tok, eventID), expires: now.Add(lease)}
	return TxnClaim{State: TxnClaimed, Token: tok}, nil
}

// ReleaseDelivery implements Deliveries.
func (m *Memory) ReleaseDelivery(ctx context.Context, ns, transactionID, token string) error {
	if err := firstErr(checkID("namespace", ns), checkID("transaction id", transactionID), checkID("token", token)); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	k := txnKey(m.prefix, ns, transactionID)
	if e, ok := m.get(k, m.now()); ok {
		if st, _, tok, _, _ := parseTxn(e.value); st == TxnInFlight && tok == token {
			delete(m.entries, k)
		}
	}
	return nil
}

// CompleteDelivery implements Deliveries: under the store's one lock, all
// of it at once.
func (m *Memory) CompleteDelivery(ctx context.Context, c Completion) error {
	if err := checkCompletion(c); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := m.now()
	if c.TransactionID != "" {
		k := txnKey(m.prefix, c.OrderNS, c.TransactionID)
		e, ok := m.get(k, now)
		if st, _, tok, _, _ := parseTxn(e.value); !ok || (st == TxnInFlight && tok == c.TxnToken) {
			m.entries[k] = memEntry{value: txnDone(c.Source, c.EventID), expires: now.Add(c.TTL)}
		}
	}
	if c.OutTradeNo != "" {
		delete(m.watchMap(c.OrderNS), watchMember(c.Provider, c.OutTradeNo))
	}
	if c.EventToken != "" {
		m.completeLocked(c.EventNS, c.EventID, c.EventToken, c.TTL, now)
	}
	return nil
}

// Delivered implements Deliveries.
func (m *Memory) Delivered(ctx context.Context, ns, transactionID string) (string, error) {
	if err := firstErr(checkID("namespace", ns), checkID("transaction id", transactionID)); err != nil {
		return "", err
	}
	if err := m.lock(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	e, _ := m.get(txnKey(m.prefix, ns, transactionID), m.now())
	if st, src, _, _, _ := parseTxn(e.value); st == TxnDelivered {
		return src, nil
	}
	return "", nil
}

// completeLocked is CompleteEvent's write, m.mu held. The key and the
// done value are one allocation (keyFor).
func (m *Memory) completeLocked(ns, eventID, token string, ttl time.Duration, now time.Time) {
	var b strings.Builder
	k := keyFor(&b, m.prefix, ns, kindEvent, eventID, len(donePrefix)+len(token))
	if e, ok := m.get(k, now); ok && !hasToken(e.value, inFlightPrefix, token) {
		return
	}
	b.WriteString(donePrefix)
	b.WriteString(token)
	k, v := entryAfter(&b, k)
	m.entries[k] = memEntry{value: v, expires: now.Add(ttl)}
}
