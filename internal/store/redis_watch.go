package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// KEYS[1] the due-time sorted set, KEYS[2] the watch details hash;
// ARGV[1] member, ARGV[2] details, ARGV[3] due (unix ms), ARGV[4] ttl ms.
// The first registration wins; every registration keeps the namespace's
// watch keys alive for ttl. A retried call finds its own watch and
// answers 0, which only says "watched already".
var watchScript = redis.NewScript(`
local started = 0
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
	redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
	started = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return started
`)

// KEYS as watchScript; ARGV[1] now (unix ms), ARGV[2] lease end (unix ms,
// the holder's token), ARGV[3] "<provider>:", ARGV[4] max. Returns the
// details of each watch taken. Other providers' due watches are skipped,
// not taken; a member without details (a hash that expired alone) is
// dropped.
var takeScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
local out = {}
local max = tonumber(ARGV[4])
for _, m in ipairs(due) do
	if string.sub(m, 1, #ARGV[3]) == ARGV[3] then
		local d = redis.call('HGET', KEYS[2], m)
		if d then
			redis.call('ZADD', KEYS[1], 'XX', ARGV[2], m)
			table.insert(out, d)
			if #out >= max then break end
		else
			redis.call('ZREM', KEYS[1], m)
		end
	end
end
return out
`)

// KEYS as watchScript; ARGV[1] member, ARGV[2] the holder's lease end,
// ARGV[3] new due (unix ms), ARGV[4] new details. Only the holder whose
// lease is still the member's score moves it.
var rescheduleScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) == tonumber(ARGV[2]) and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
	redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
	redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
	return 1
end
return 0
`)

var endWatchScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// WatchOrder implements Watcher.
func (r *Redis) WatchOrder(ctx context.Context, ns string, w Watch, ttl time.Duration) (bool, error) {
	if err := firstErr(checkWatch(ns, w), checkDuration("ttl", ttl)); err != nil {
		return false, err
	}
	w.lease = 0
	data, err := encodeWatch(w)
	if err != nil {
		return false, err
	}
	zset, hash := watchKeys(r.prefix, ns)
	n, err := r.runScript(ctx, watchScript, []string{zset, hash},
		watchMember(w.Provider, w.OutTradeNo), data, w.Since.UnixMilli(), ttl.Milliseconds()).Int()
	if err != nil {
		return false, unavailable("watch order", err)
	}
	return n == 1, nil
}

// TakeDueWatches implements Watcher.
func (r *Redis) TakeDueWatches(ctx context.Context, ns, providerName string, now time.Time, lease time.Duration, max int) ([]Watch, error) {
	if err := firstErr(checkID("namespace", ns), checkID("provider", providerName), checkDuration("lease", lease)); err != nil {
		return nil, err
	}
	if max < 1 {
		return nil, fmt.Errorf("%w: max must be at least 1", errInvalid)
	}
	until := now.Add(lease).UnixMilli()
	zset, hash := watchKeys(r.prefix, ns)
	list, err := r.runScript(ctx, takeScript, []string{zset, hash},
		now.UnixMilli(), until, providerName+":", max).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("take due watches", err)
	}
	out := make([]Watch, 0, len(list))
	for _, d := range list {
		w, err := decodeWatch(d, until)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// RescheduleWatch implements Watcher.
func (r *Redis) RescheduleWatch(ctx context.Context, ns string, w Watch, due time.Time) (bool, error) {
	if err := checkWatch(ns, w); err != nil {
		return false, err
	}
	lease := w.lease
	w.lease = 0
	data, err := encodeWatch(w)
	if err != nil {
		return false, err
	}
	if lease == 0 {
		return false, nil
	}
	zset, hash := watchKeys(r.prefix, ns)
	n, err := r.runScript(ctx, rescheduleScript, []string{zset, hash},
		watchMember(w.Provider, w.OutTradeNo), strconv.FormatInt(lease, 10), due.UnixMilli(), data).Int()
	if err != nil {
		return false, unavailable("reschedule watch", err)
	}
	return n == 1, nil
}

// EndWatch implements Watcher.
func (r *Redis) EndWatch(ctx context.Context, ns, providerName, outTradeNo string) error {
	if err := firstErr(checkID("namespace", ns), checkID("provider", providerName), checkID("out_trade_no", outTradeNo)); err != nil {
		return err
	}
	zset, hash := watchKeys(r.prefix, ns)
	if err := r.runScript(ctx, endWatchScript, []string{zset, hash}, watchMember(providerName, outTradeNo)).Err(); err != nil {
		return unavailable("end watch", err)
	}
	return nil
}
