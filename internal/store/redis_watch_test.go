package store

import (
	"testing"
	"time"

	"github.com/payguard/payguard/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

// Section 11's keys: the due times in the sorted set {prefix}{ns}:watch
// (the namespace in a hash tag, so its details hash shares the slot), the
// delivered transaction under {prefix}{ns}:txn:{transaction_id}.
func TestRedisWatchKeyLayout(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := srv.NewClient(t)
	s := NewRedis(redis.NewUniversalClient(mustParse(t, srv.URL(), nil, "")), "payguard:")
	defer s.Close()

	if _, err := s.WatchOrder(ctx, "alipay", watchOf("alipay", "o-1"), 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	zset := "payguard:{alipay}:watch"
	score, err := raw.ZScore(ctx, zset, "alipay:o-1").Result()
	if err != nil {
		t.Fatalf("ZSCORE %s: %v", zset, err)
	}
	if int64(score) != watchBase.UnixMilli() {
		t.Errorf("due %v, want the first-seen time in ms %d", score, watchBase.UnixMilli())
	}
	if pttl := raw.PTTL(ctx, zset).Val(); pttl <= 71*time.Hour {
		t.Errorf("PTTL %s = %v, want about 72h", zset, pttl)
	}
	if !raw.HExists(ctx, zset+":data", "alipay:o-1").Val() {
		t.Errorf("no details for alipay:o-1 in %s:data", zset)
	}
	if _, err := s.RecordDelivered(ctx, "alipay", "2026010222001", SourceRecovered, time.Hour); err != nil {
		t.Fatal(err)
	}
	checkKey(t, raw, "payguard:alipay:txn:2026010222001", SourceRecovered, time.Hour)
}
