package store

import (
	"testing"
	"time"

	"github.com/payguard/payguard/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

// Section 11's keys: the due times in the sorted set {prefix}{ns}:watch
// (the namespace in a hash tag, so its details hash shares the slot), the
// delivered transaction under {prefix}{ns}:txn:{transaction_id}, tagged alike.
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
	// The transaction record shares the watch's hash tag: one script
	// records the delivery and ends the watch.
	c, err := s.ClaimDelivery(ctx, "alipay", "2026010222001", SourceRecovered, "recovered:2026010222001", time.Minute)
	if err != nil || c.State != TxnClaimed {
		t.Fatalf("ClaimDelivery = %+v, %v", c, err)
	}
	err = s.CompleteDelivery(ctx, Completion{OrderNS: "alipay", TransactionID: "2026010222001", TxnToken: c.Token,
		Source: SourceRecovered, EventID: "recovered:2026010222001", Provider: "alipay", OutTradeNo: "o-1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, raw, "payguard:{alipay}:txn:2026010222001", "d:recovered:recovered:2026010222001", time.Hour)
	if raw.Exists(ctx, zset, zset+":data").Val() != 0 && raw.HExists(ctx, zset+":data", "alipay:o-1").Val() {
		t.Errorf("the completed delivery left its watch")
	}
}
