package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Key kinds, the middle part of every key. One operation touches exactly one
// key, so no operation ever spans two Redis Cluster hash slots; AdmitEvent
// alone touches up to three (event, nonce, order), in one script where the
// server is not a Cluster.
//
// The layout has no hash tags, and keeps none for AdmitEvent's sake: a tag
// on the namespace would not put an order key in its event's slot (the
// order namespace is the provider and the merchant, or order_namespace), a
// tag on the provider would put all of a provider's keys in one slot (one
// node of the Cluster), and either would move the keys of every running
// deployment, forgetting its delivered events at the upgrade and letting
// old and new instances claim one event twice while both run.
const (
	kindEvent   = "evt"
	kindNonce   = "nonce"
	kindPayment = "order"
)

// Values stored under an event key. The prefix says the state, the rest is
// the owner's token: a done event keeps it so that a retried CompleteEvent of
// the same owner is recognisably a no-op.
const (
	inFlightPrefix = "f:"
	donePrefix     = "d:"
)

// key builds {prefix}{ns}:{kind}:{id}, the layout of DESIGN.md section 6.
func key(prefix, ns, kind, id string) string {
	return prefix + ns + ":" + kind + ":" + id
}

// newToken returns 16 random bytes, hex encoded. Tokens only have to be
// unguessable enough not to collide between two deliveries of one event;
// crypto/rand makes that certain without a shared counter.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it aborts the program instead
	return hex.EncodeToString(b[:])
}

// errInvalid reports a caller error (a bug in the pipeline, not an outage):
// it deliberately does not wrap ErrUnavailable.
var errInvalid = errors.New("store: invalid argument")

// checkDuration rejects the durations no backend can honour. A zero lease or
// TTL would mean "forever" on some backends and "already expired" on others;
// refusing it keeps both implementations identical.
func checkDuration(what string, d time.Duration) error {
	if d < time.Millisecond {
		return fmt.Errorf("%w: %s must be at least 1ms, got %v", errInvalid, what, d)
	}
	return nil
}

// checkID rejects empty identifiers, which would collapse every event (or
// nonce) of a namespace onto one key.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty %s", errInvalid, what)
	}
	return nil
}
