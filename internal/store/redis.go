package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the shared Store for several payguard instances: standalone
// Redis, Sentinel or Cluster, whatever redis.UniversalClient the caller
// built (see ParseRedisURL). Each operation is one round trip touching one
// key: a SET NX PX inside a small Lua script where a compare-and-set is
// needed. Scripts go out as EVALSHA and fall back to EVAL on NOSCRIPT (built
// into redis.Script), so a restarted or failed-over server needs no warm-up.
//
// go-redis retries a command after a network error, so a script may run
// twice for one call; every script below is written to give the same answer
// the second time (a retried claim finds its own token, a retried nonce its
// own marker).
type Redis struct {
	client redis.UniversalClient
	prefix string
	// cluster: keys of one notification lie in several hash slots, so no
	// script touches more than one (AdmitEvent takes its steps one by one).
	cluster bool
	// batch sends the scripts of concurrent callers together (see
	// runScript); nil on Cluster, where one script touches one slot.
	batch *scriptBatcher
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store over client with keys under prefix (DESIGN.md's
// default is "payguard:"). The store owns client from then on: Close closes
// it, so anything sharing the client (an audit stream sink) must be done
// with it first.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	_, cluster := client.(*redis.ClusterClient)
	r := &Redis{client: client, prefix: prefix, cluster: cluster}
	if c, ok := client.(*redis.Client); ok {
		r.batch = newScriptBatcher(c)
	}
	return r
}

// OpenRedis is ParseRedisURL, redis.NewUniversalClient and NewRedis in one
// call, for the common case of a store owning its connection pool.
func OpenRedis(rawURL string, addrs []string, masterName, prefix string) (*Redis, error) {
	opts, err := ParseRedisURL(rawURL, addrs, masterName)
	if err != nil {
		return nil, err
	}
	return NewRedis(redis.NewUniversalClient(opts), prefix), nil
}

// Client returns the underlying client, for sharing it with an audit stream
// sink (which must be closed before the store).
func (r *Redis) Client() redis.UniversalClient { return r.client }

// KEYS[1] the event key; ARGV[1] "f:<new token>", ARGV[2] lease in ms.
// Returns 1 claimed, 2 in flight, 3 done. The value already being our own
// in-flight marker can only mean this very call is a retry after a lost
// reply, so it is still ours.
var claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return 1
end
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
	return 1
end
if v and string.sub(v, 1, 2) == 'd:' then
	return 3
end
return 2
`)

// KEYS[1] the event key; ARGV[1] "f:<token>", ARGV[2] "d:<token>", ARGV[3]
// ttl in ms. Completes the caller's claim, or an expired one nobody took
// over (the shop accepted it; remembering that is what stops a second
// delivery); leaves a claim that now belongs to someone else alone.
var completeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
return 0
`)

// KEYS[1] the event key; ARGV[1] "f:<token>". Deletes only the caller's own
// in-flight claim.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// KEYS[1] the event key; ARGV[1] "f:<token>", ARGV[2] lease in ms. Extends
// only the caller's own in-flight claim; a retry finds it still its own.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
	return 1
end
return 0
`)

// KEYS[1] the nonce key; ARGV[1] a marker unique to this call, ARGV[2] ttl
// in ms. A bare SET NX PX would be enough if it never ran twice, but a
// go-redis retry after a lost reply would then report the caller's own
// nonce as replayed; the marker makes the retry answer "fresh" again.
var nonceScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return 1
end
return 0
`)

// KEYS[1] the order key; ARGV[1] transaction id, ARGV[2] ttl in ms. Returns
// "" when the id was recorded now or before, otherwise the earlier id.
var paymentScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return ''
end
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
	return ''
end
return v
`)

// ClaimEvent implements Store.
func (r *Redis) ClaimEvent(ctx context.Context, ns, eventID string, lease time.Duration) (Claim, error) {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkDuration("lease", lease)); err != nil {
		return Claim{}, err
	}
	inFlight, tok := newInFlight()
	n, err := r.runScript(ctx, claimScript,
		[]string{key(r.prefix, ns, kindEvent, eventID)},
		inFlight, lease.Milliseconds()).Int()
	if err != nil {
		return Claim{}, unavailable("claim event", err)
	}
	switch n {
	case 1:
		return Claim{State: Claimed, Token: tok}, nil
	case 2:
		return Claim{State: InFlight}, nil
	case 3:
		return Claim{State: Done}, nil
	}
	return Claim{}, unavailable("claim event", fmt.Errorf("unexpected script result %d", n))
}

// CompleteEvent implements Store. Like Memory, it also completes a claim
// whose lease expired without a takeover.
func (r *Redis) CompleteEvent(ctx context.Context, ns, eventID, token string, ttl time.Duration) error {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkID("token", token), checkDuration("ttl", ttl)); err != nil {
		return err
	}
	inFlight, done := tokenValues(token)
	err := r.runScript(ctx, completeScript,
		[]string{key(r.prefix, ns, kindEvent, eventID)},
		inFlight, done, ttl.Milliseconds()).Err()
	if err != nil {
		return unavailable("complete event", err)
	}
	return nil
}

// ReleaseEvent implements Store.
func (r *Redis) ReleaseEvent(ctx context.Context, ns, eventID, token string) error {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkID("token", token)); err != nil {
		return err
	}
	err := r.runScript(ctx, releaseScript,
		[]string{key(r.prefix, ns, kindEvent, eventID)},
		inFlightPrefix+token).Err()
	if err != nil {
		return unavailable("release event", err)
	}
	return nil
}

// RenewEvent implements Store.
func (r *Redis) RenewEvent(ctx context.Context, ns, eventID, token string, lease time.Duration) (bool, error) {
	if err := firstErr(checkID("namespace", ns), checkID("event id", eventID), checkID("token", token), checkDuration("lease", lease)); err != nil {
		return false, err
	}
	n, err := r.runScript(ctx, renewScript,
		[]string{key(r.prefix, ns, kindEvent, eventID)},
		inFlightPrefix+token, lease.Milliseconds()).Int()
	if err != nil {
		return false, unavailable("renew event", err)
	}
	return n == 1, nil
}

// RecordNonce implements Store.
func (r *Redis) RecordNonce(ctx context.Context, ns, nonce string, ttl time.Duration) (bool, error) {
	if err := firstErr(checkID("namespace", ns), checkID("nonce", nonce), checkDuration("ttl", ttl)); err != nil {
		return false, err
	}
	n, err := r.runScript(ctx, nonceScript,
		[]string{key(r.prefix, ns, kindNonce, nonce)},
		newToken(), ttl.Milliseconds()).Int()
	if err != nil {
		return false, unavailable("record nonce", err)
	}
	return n == 1, nil
}

// RecordPayment implements Store, with Memory's rule for empty ids.
func (r *Redis) RecordPayment(ctx context.Context, ns, outTradeNo, transactionID string, ttl time.Duration) (string, error) {
	if err := firstErr(checkID("namespace", ns), checkDuration("ttl", ttl)); err != nil {
		return "", err
	}
	if outTradeNo == "" || transactionID == "" {
		return "", nil
	}
	earlier, err := r.runScript(ctx, paymentScript,
		[]string{key(r.prefix, ns, kindPayment, outTradeNo)},
		transactionID, ttl.Milliseconds()).Text()
	if err != nil {
		return "", unavailable("record payment", err)
	}
	return earlier, nil
}

// Ping checks that the backend answers, for a readiness probe or a warning
// at start; the pipeline itself never needs it.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close closes the client and its connection pool.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}

// unavailable wraps every backend failure: connection refused, timeouts,
// the caller's context, CLUSTERDOWN, LOADING, a WRONGTYPE from a foreign key
// under our prefix. The pipeline fails closed on all of them alike (503,
// the provider retries), so they share one sentinel; the cause stays in the
// chain for logs and errors.Is. go-redis error texts carry addresses, never
// passwords.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: redis %s: %w", ErrUnavailable, op, err)
}
