package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
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
	var b [tokenLen]byte
	return string(appendToken(b[:0]))
}

// tokenLen is the length of a token: 16 bytes, hex encoded.
const tokenLen = 32

// appendToken appends a new token (newToken's) to dst.
func appendToken(dst []byte) []byte {
	var b [tokenLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it aborts the program instead
	return hex.AppendEncode(dst, b[:])
}

// newInFlight is a new token and the in-flight value holding it
// (inFlightPrefix+token), in one allocation instead of two.
func newInFlight() (value, token string) {
	var b [len(inFlightPrefix) + tokenLen]byte
	value = string(appendToken(append(b[:0], inFlightPrefix...)))
	return value, value[len(inFlightPrefix):]
}

// tokenValues are token's in-flight and done values (inFlightPrefix+token,
// donePrefix+token), in one allocation instead of two.
func tokenValues(token string) (inFlight, done string) {
	var b strings.Builder
	b.Grow(len(inFlightPrefix) + len(donePrefix) + 2*len(token))
	b.WriteString(inFlightPrefix)
	b.WriteString(token)
	b.WriteString(donePrefix)
	b.WriteString(token)
	s := b.String()
	n := len(inFlightPrefix) + len(token)
	return s[:n], s[n:]
}

// keyFor starts b with key(prefix, ns, kind, id) and room for valueLen
// more bytes, and returns the key. The memory store writes the value it
// keeps under the key behind it, in the same buffer, and keeps the two as
// views of b.String() (which copies nothing): one allocation per entry
// where key and value took one each, or two where the value was itself a
// concatenation. Both live exactly as long as the entry; a write to an
// existing key replaces the map's key string too, so no earlier buffer
// stays behind.
func keyFor(b *strings.Builder, prefix, ns, kind, id string, valueLen int) string {
	b.Grow(len(prefix) + len(ns) + len(kind) + len(id) + 2 + valueLen)
	b.WriteString(prefix)
	b.WriteString(ns)
	b.WriteByte(':')
	b.WriteString(kind)
	b.WriteByte(':')
	b.WriteString(id)
	return b.String()
}

// entryAfter is the key and the value written behind it in b (keyFor).
func entryAfter(b *strings.Builder, k string) (key, value string) {
	s := b.String()
	return s[:len(k)], s[len(k):]
}

// hasToken reports whether value is prefix followed by token, without
// building prefix+token to compare.
func hasToken(value, prefix, token string) bool {
	return len(value) == len(prefix)+len(token) && strings.HasPrefix(value, prefix) && value[len(prefix):] == token
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
