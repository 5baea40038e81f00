package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// KEYS[1] the event key, then the nonce key when ARGV[3] is set, then the
// order key when ARGV[5] is set. ARGV[1] "f:<new token>", ARGV[2] lease ms,
// ARGV[3] a marker unique to this call ("" no nonce), ARGV[4] nonce ttl ms,
// ARGV[5] transaction id ("" no payment), ARGV[6] payment ttl ms.
// Returns {state, earlier}: state 0 replayed nonce (nothing written),
// 1 claimed, 2 in flight, 3 done; earlier the order's other transaction.
// It is nonceScript, claimScript and paymentScript in that order, each
// ending the script where the pipeline would have stopped, and as they
// are, safe to run twice (a retry finds its own marker, its own token,
// its own transaction).
var admitScript = redis.NewScript(`
local order = 2
if ARGV[3] ~= '' then
	if not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
		if redis.call('GET', KEYS[2]) ~= ARGV[3] then
			return {0, ''}
		end
	end
	order = 3
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	local v = redis.call('GET', KEYS[1])
	if v ~= ARGV[1] then
		if v and string.sub(v, 1, 2) == 'd:' then
			return {3, ''}
		end
		return {2, ''}
	end
end
if ARGV[5] == '' or redis.call('SET', KEYS[order], ARGV[5], 'NX', 'PX', ARGV[6]) then
	return {1, ''}
end
local p = redis.call('GET', KEYS[order])
if p == false or p == ARGV[5] then
	return {1, ''}
end
return {1, p}
`)

// AdmitEvent implements Admitter in one script, one round trip, on a
// standalone or Sentinel-managed Redis, where a script may touch any key.
//
// On Redis Cluster the keys of one admission lie in separate hash slots
// (the layout has no hash tags, see keys.go), so it runs the single
// operations in order instead, as before: the same answers in up to three
// round trips.
func (r *Redis) AdmitEvent(ctx context.Context, a Admission) (Admitted, error) {
	if r.cluster {
		return admitInSteps(ctx, r, a)
	}
	if err := a.check(); err != nil {
		return Admitted{}, err
	}
	keys := make([]string, 1, 3)
	keys[0] = key(r.prefix, a.NS, kindEvent, a.EventID)
	var marker, txn string
	var nonceTTL, payTTL int64
	if a.Nonce != "" {
		keys = append(keys, key(r.prefix, a.NS, kindNonce, a.Nonce))
		marker, nonceTTL = newToken(), a.NonceTTL.Milliseconds()
	}
	if a.records() {
		keys = append(keys, key(r.prefix, a.Payment.NS, kindPayment, a.Payment.OutTradeNo))
		txn, payTTL = a.Payment.TransactionID, a.Payment.TTL.Milliseconds()
	}
	inFlight, tok := newInFlight()
	v, err := r.runScript(ctx, admitScript, keys,
		inFlight, a.Lease.Milliseconds(), marker, nonceTTL, txn, payTTL).Slice()
	if err != nil {
		return Admitted{}, unavailable("admit event", err)
	}
	state, ok1 := scriptInt(v, 0)
	earlier, ok2 := scriptText(v, 1)
	if !ok1 || !ok2 {
		return Admitted{}, unavailable("admit event", fmt.Errorf("unexpected script result %v", v))
	}
	switch state {
	case 0:
		return Admitted{Replayed: true}, nil
	case 1:
		return Admitted{Claim: Claim{State: Claimed, Token: tok}, DuplicateOf: earlier}, nil
	case 2:
		return Admitted{Claim: Claim{State: InFlight}}, nil
	case 3:
		return Admitted{Claim: Claim{State: Done}}, nil
	}
	return Admitted{}, unavailable("admit event", fmt.Errorf("unexpected script state %d", state))
}

func scriptInt(v []any, i int) (int64, bool) {
	if len(v) <= i {
		return 0, false
	}
	n, ok := v[i].(int64)
	return n, ok
}

func scriptText(v []any, i int) (string, bool) {
	if len(v) <= i {
		return "", false
	}
	s, ok := v[i].(string)
	return s, ok
}
