// Package store is payguard's shared memory: the idempotency state machine
// for events (absent → in_flight → done), signed nonces seen within the
// replay window, and the first paid transaction of each order. Two
// implementations, memory and redis, pass one conformance suite.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps every failure to reach the backing store; the
// pipeline answers it with 503 store_unavailable and never passes the
// notification on.
var ErrUnavailable = errors.New("store unavailable")

// ClaimState is the outcome of ClaimEvent.
type ClaimState int

const (
	// Claimed: the caller now owns the event (absent → in_flight).
	Claimed ClaimState = iota + 1
	// InFlight: another delivery owns it and its lease has not expired.
	InFlight
	// Done: the event was delivered and acknowledged already.
	Done
)

func (s ClaimState) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case InFlight:
		return "in_flight"
	case Done:
		return "done"
	}
	return "unknown"
}

// Claim is the result of ClaimEvent. Token identifies the owner, so that
// only the owner of a claim can complete or release it (a claim whose lease
// expired and was taken over is not the old owner's to finish).
type Claim struct {
	State ClaimState
	Token string
}

// Store is implemented by memory and redis. ns is a namespace (the provider
// name, or the order namespace); keys are {prefix}{ns}:evt:{id},
// {prefix}{ns}:nonce:{nonce}, {prefix}{ns}:order:{out_trade_no}. Every
// operation is atomic and, on Redis, a single round trip (AdmitEvent on
// Redis Cluster excepted: there it is its steps, see Redis.AdmitEvent).
// Errors from an unreachable backend wrap ErrUnavailable.
type Store interface {
	// ClaimEvent moves the event absent → in_flight for lease.
	ClaimEvent(ctx context.Context, ns, eventID string, lease time.Duration) (Claim, error)
	// CompleteEvent moves the caller's claim in_flight → done, remembered
	// for ttl. A claim that is no longer the caller's is left as it is.
	CompleteEvent(ctx context.Context, ns, eventID, token string, ttl time.Duration) error
	// ReleaseEvent frees the caller's claim (in_flight → absent) so the
	// provider's retry can claim it again.
	ReleaseEvent(ctx context.Context, ns, eventID, token string) error
	// RenewEvent extends the caller's in-flight claim to lease from now,
	// while the shop is still answering, so that no second copy is claimed
	// meanwhile. held is false when the claim is no longer the caller's
	// (expired and taken over, completed, released): nothing is changed.
	RenewEvent(ctx context.Context, ns, eventID, token string, lease time.Duration) (held bool, err error)
	// RecordNonce stores a signed nonce for ttl; fresh is false when it was
	// seen before within that time.
	RecordNonce(ctx context.Context, ns, nonce string, ttl time.Duration) (fresh bool, err error)
	// RecordPayment remembers transactionID as the order's paid
	// transaction unless one is remembered already; it returns the earlier
	// transaction id when that is a different one, "" otherwise.
	RecordPayment(ctx context.Context, ns, outTradeNo, transactionID string, ttl time.Duration) (earlier string, err error)
	// PaidReader reads that record without writing it (paid.go).
	PaidReader
	// Admitter does the work before the forward (nonce, claim, payment)
	// as one step.
	Admitter
	// Watcher holds lost-callback recovery's watched orders (DESIGN.md
	// section 11).
	Watcher
	// Deliveries holds the delivered transactions that keep a paid
	// notification and a recovered payment from both reaching the shop.
	Deliveries
	// Close releases the connection; the pipeline does not use a closed store.
	Close() error
}
