package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// KEYS[1] the transaction record; ARGV[1] the caller's in-flight value,
// ARGV[2] lease ms, ARGV[3] the caller's source. Returns {1} when the
// caller holds it now (a retried call finds its own value), else {0, the
// record}. A reported record is taken over by the provider's notification.
var claimDeliveryScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] and not (ARGV[3] == 'notify' and string.sub(v, 1, 11) == 'd:reported:') then
	return {0, v}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1}
`)

// KEYS[1] the transaction record; ARGV[1] token. Deletes only the
// caller's own in-flight record.
var releaseDeliveryScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^f:[^:]*:([^:]*):') == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// KEYS[1] the transaction record, KEYS[2] and KEYS[3] the watch keys of
// the order namespace, KEYS[4] (when ARGV[5] is set) the event key.
// ARGV[1] the record's token (” none), ARGV[2] its delivered value,
// ARGV[3] ttl ms, ARGV[4] the watch member (” none), ARGV[5] the event's
// in-flight value (” none), ARGV[6] its done value. Each part as its own
// operation does it: the record and the event are written when they are
// the caller's or lapsed without a takeover; the watch ends.
var completeDeliveryScript = redis.NewScript(`
if ARGV[1] ~= '' then
	local v = redis.call('GET', KEYS[1])
	if v == false or string.match(v, '^f:[^:]*:([^:]*):') == ARGV[1] then
		redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	end
end
if ARGV[4] ~= '' then
	redis.call('ZREM', KEYS[2], ARGV[4])
	redis.call('HDEL', KEYS[3], ARGV[4])
end
if ARGV[5] ~= '' then
	local e = redis.call('GET', KEYS[4])
	if e == false or e == ARGV[5] then
		redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[3])
	end
end
return 1
`)

// ClaimDelivery implements Deliveries.
func (r *Redis) ClaimDelivery(ctx context.Context, ns, transactionID, source, eventID string, lease time.Duration) (TxnClaim, error) {
	if err := checkClaimDelivery(ns, transactionID, source, eventID, lease); err != nil {
		return TxnClaim{}, err
	}
	tok := newToken()
	res, err := r.runScript(ctx, claimDeliveryScript, []string{txnKey(r.prefix, ns, transactionID)},
		txnInFlight(source, tok, eventID), lease.Milliseconds(), source).Slice()
	if err != nil {
		return TxnClaim{}, unavailable("claim delivery", err)
	}
	if n, _ := res[0].(int64); n == 1 {
		return TxnClaim{State: TxnClaimed, Token: tok}, nil
	}
	v, _ := res[1].(string)
	st, src, _, ev, ok := parseTxn(v)
	if len(res) != 2 || !ok {
		return TxnClaim{}, unavailable("claim delivery", fmt.Errorf("unexpected transaction record %q", v))
	}
	return TxnClaim{State: st, Source: src, EventID: ev}, nil
}

// ReleaseDelivery implements Deliveries.
func (r *Redis) ReleaseDelivery(ctx context.Context, ns, transactionID, token string) error {
	if err := firstErr(checkID("namespace", ns), checkID("transaction id", transactionID), checkID("token", token)); err != nil {
		return err
	}
	if err := r.runScript(ctx, releaseDeliveryScript, []string{txnKey(r.prefix, ns, transactionID)}, token).Err(); err != nil {
		return unavailable("release delivery", err)
	}
	return nil
}

// CompleteDelivery implements Deliveries: one script; on a Cluster, whose
// slots keep the provider's event key apart from the order namespace's
// keys, the order namespace's script and then the event's.
func (r *Redis) CompleteDelivery(ctx context.Context, c Completion) error {
	if err := checkCompletion(c); err != nil {
		return err
	}
	ttl := c.TTL.Milliseconds()
	if c.TransactionID == "" && c.OutTradeNo == "" {
		if c.EventToken == "" {
			return nil
		}
		return r.CompleteEvent(ctx, c.EventNS, c.EventID, c.EventToken, c.TTL)
	}
	zset, hash := watchKeys(r.prefix, c.OrderNS)
	keys := []string{txnKey(r.prefix, c.OrderNS, c.TransactionID), zset, hash}
	member := ""
	if c.OutTradeNo != "" {
		member = watchMember(c.Provider, c.OutTradeNo)
	}
	var evtIn, evtDone string
	_, cluster := r.client.(*redis.ClusterClient)
	if c.EventToken != "" && !cluster {
		keys = append(keys, key(r.prefix, c.EventNS, kindEvent, c.EventID))
		evtIn, evtDone = tokenValues(c.EventToken)
	}
	err := r.runScript(ctx, completeDeliveryScript, keys,
		c.TxnToken, txnDone(c.Source, c.EventID), ttl, member, evtIn, evtDone).Err()
	if err != nil {
		return unavailable("complete delivery", err)
	}
	if c.EventToken != "" && cluster {
		return r.CompleteEvent(ctx, c.EventNS, c.EventID, c.EventToken, c.TTL)
	}
	return nil
}

// Delivered implements Deliveries.
func (r *Redis) Delivered(ctx context.Context, ns, transactionID string) (string, error) {
	if err := firstErr(checkID("namespace", ns), checkID("transaction id", transactionID)); err != nil {
		return "", err
	}
	v, err := r.client.Get(ctx, txnKey(r.prefix, ns, transactionID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable("delivered", err)
	}
	if st, src, _, _, _ := parseTxn(v); st == TxnDelivered {
		return src, nil
	}
	return "", nil
}
