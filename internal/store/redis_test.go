package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

var prefixes atomic.Int64

// uniquePrefix isolates parallel subtests sharing one server.
func uniquePrefix() string { return fmt.Sprintf("pgtest%d:", prefixes.Add(1)) }

// redisBackend opens two independent clients per env from opts, the way
// two payguard instances share one Redis.
func redisBackend(opts func(t *testing.T) *redis.UniversalOptions) backend {
	return func(t *testing.T) env {
		prefix := uniquePrefix()
		relaxed := func() *redis.UniversalOptions {
			// The suite is about semantics; the short production timeouts
			// are tested in the outage tests and would only turn a loaded
			// CI machine into failures here.
			o := opts(t)
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = 10*time.Second, 10*time.Second, 10*time.Second, 10*time.Second
			return o
		}
		a := NewRedis(redis.NewUniversalClient(relaxed()), prefix)
		b := NewRedis(redis.NewUniversalClient(relaxed()), prefix)
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		// Connect (and, for a cluster, load the slot map) before the test
		// starts its clock, so that a first dial under load does not eat
		// the margin of a "not yet expired" check.
		for _, s := range []*Redis{a, b} {
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return env{a: a, b: b, advance: time.Sleep}
	}
}

func mustParse(t *testing.T, url string, addrs []string, master string) *redis.UniversalOptions {
	t.Helper()
	o, err := ParseRedisURL(url, addrs, master)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	runConformance(t, redisBackend(func(t *testing.T) *redis.UniversalOptions {
		return mustParse(t, srv.URL(), nil, "")
	}))
}

// An ACL user with a password in the URL, and TLS: the two ways a managed
// Redis is usually reached.
func TestRedisConformanceTLSWithACLUser(t *testing.T) {
	t.Parallel()
	srv := redistest.StartTLS(t, "--user", "payguard", "on", ">s3cret-pw", "~*", "&*", "+@all", "--user", "default", "off")
	url := strings.Replace(srv.URL(), "rediss://", "rediss://payguard:s3cret-pw@", 1)
	runConformance(t, redisBackend(func(t *testing.T) *redis.UniversalOptions {
		o := mustParse(t, url, nil, "")
		if o.TLSConfig == nil || o.Username != "payguard" {
			t.Fatalf("ParseRedisURL(%s): TLS %v, user %q", url, o.TLSConfig != nil, o.Username)
		}
		o.TLSConfig.RootCAs = srv.TLSConfig().RootCAs
		return o
	}))
}

func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	runConformance(t, redisBackend(func(t *testing.T) *redis.UniversalOptions {
		o := mustParse(t, "redis://", cluster.Addrs()[:2], "") // a partial seed list is enough
		if !o.IsClusterMode {
			t.Fatal("addrs without master_name did not select cluster mode")
		}
		return o
	}))
}

// Sentinel: the sentinels are the only addresses the store is given; the
// master is whatever they name.
func TestRedisSentinelConformance(t *testing.T) {
	t.Parallel()
	sn := redistest.StartSentinel(t, 1)
	runConformance(t, redisBackend(func(t *testing.T) *redis.UniversalOptions {
		o := mustParse(t, "", sn.Addrs(), sn.MasterName())
		if o.MasterName != "mymaster" || o.IsClusterMode {
			t.Fatalf("addrs with master_name: master %q, cluster %v; want a failover client", o.MasterName, o.IsClusterMode)
		}
		return o
	}))
}

// The key layout is part of the design (operators inspect and evict these
// keys); the TTLs show the lease and dedup_ttl reached Redis.
func TestRedisKeyLayoutAndTTLs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := srv.NewClient(t)
	s := NewRedis(redis.NewUniversalClient(mustParse(t, srv.URL(), nil, "")), "payguard:")
	defer s.Close()

	c, err := s.ClaimEvent(ctx, "alipay", "2026010222001", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, raw, "payguard:alipay:evt:2026010222001", "f:"+c.Token, 30*time.Second)
	if err := s.CompleteEvent(ctx, "alipay", "2026010222001", c.Token, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	checkKey(t, raw, "payguard:alipay:evt:2026010222001", "d:"+c.Token, 72*time.Hour)
	if _, err := s.RecordNonce(ctx, "stripe", "abc", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	checkKey(t, raw, "payguard:stripe:nonce:abc", "", 5*time.Minute)
	if _, err := s.RecordPayment(ctx, "shop", "o-1", "txn-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	checkKey(t, raw, "payguard:shop:order:o-1", "txn-1", time.Hour)
	if n := raw.DBSize(ctx).Val(); n != 3 {
		t.Errorf("%d keys, want 3", n)
	}
}

func checkKey(t *testing.T, raw *redis.Client, key, value string, ttl time.Duration) {
	t.Helper()
	got, err := raw.Get(ctx, key).Result()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	if value != "" && got != value {
		t.Errorf("GET %s = %q, want %q", key, got, value)
	}
	pttl := raw.PTTL(ctx, key).Val()
	if pttl <= ttl-5*time.Second || pttl > ttl {
		t.Errorf("PTTL %s = %v, want just under %v", key, pttl, ttl)
	}
}

// go-redis resends a command after a network error, so a script may run
// twice for one call whose first reply was lost. Running each script twice
// with the same arguments must give the caller the same answer.
func TestRedisScriptsAreRetrySafe(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := srv.NewClient(t)
	for _, tc := range []struct {
		name   string
		script *redis.Script
		args   []any
	}{
		{"claim", claimScript, []any{"f:tok", 10000}},
		{"nonce", nonceScript, []any{"marker", 10000}},
		{"payment", paymentScript, []any{"txn", 10000}},
	} {
		k := []string{"retry:" + tc.name}
		first, err := tc.script.Run(ctx, raw, k, tc.args...).Result()
		if err != nil {
			t.Fatal(err)
		}
		again, err := tc.script.Run(ctx, raw, k, tc.args...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if first != again {
			t.Errorf("%s: first run %v, retry %v", tc.name, first, again)
		}
	}
	// And the retry of a completion is harmless as well.
	for range 2 {
		if err := completeScript.Run(ctx, raw, []string{"retry:claim"}, "f:tok", "d:tok", 10000).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if v := raw.Get(ctx, "retry:claim").Val(); v != "d:tok" {
		t.Errorf("after two completions: %q", v)
	}
}

// allOps runs every Store operation once and returns their errors.
func allOps(ctx context.Context, s Store) map[string]error {
	errs := map[string]error{}
	_, errs["ClaimEvent"] = s.ClaimEvent(ctx, "ns", "evt", time.Second)
	errs["CompleteEvent"] = s.CompleteEvent(ctx, "ns", "evt", "tok", time.Second)
	errs["ReleaseEvent"] = s.ReleaseEvent(ctx, "ns", "evt", "tok")
	_, errs["RecordNonce"] = s.RecordNonce(ctx, "ns", "nonce", time.Second)
	_, errs["RecordPayment"] = s.RecordPayment(ctx, "ns", "order", "txn", time.Second)
	_, errs["PaidTransaction"] = s.PaidTransaction(ctx, "ns", "order")
	return errs
}

// A dead Redis turns every operation into ErrUnavailable within the default
// timeouts, never a hang and never a password in the message; once Redis is
// back, the very same store object works again.
func TestRedisOutageAndRecovery(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--requirepass", "hunter2-very-secret")
	url := "redis://:hunter2-very-secret@" + srv.Addr() + "/0"
	s, err := OpenRedis(url, nil, "", "payguard:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimEvent(ctx, "ns", "warm", time.Minute); err != nil {
		t.Fatal(err) // a pooled connection now exists and will go stale
	}

	srv.Stop()
	start := time.Now()
	for op, err := range allOps(ctx, s) {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", op, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error leaks the password: %v", op, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("five operations against a dead Redis took %v", d)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping with Redis down: %v", err)
	}

	srv.Restart()
	// go-redis may have marked the server as failing and probes it once a
	// second, so recovery can take a moment; it must not need a new store.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.ClaimEvent(ctx, "ns", "after", time.Minute)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after Restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for op, err := range allOps(ctx, s) {
		if err != nil {
			t.Errorf("%s after recovery: %v", op, err)
		}
	}
}

// Sentinel's version of the outage: the master dies and stays down long
// enough for the sentinels to declare it down (with no replica to promote
// they keep naming it). Every operation fails with ErrUnavailable, quickly;
// once the master is back on its address the same store works again,
// having found it through the sentinels.
func TestRedisSentinelMasterOutageAndRecovery(t *testing.T) {
	t.Parallel()
	sn := redistest.StartSentinel(t, 2)
	s, err := OpenRedis("", sn.Addrs(), sn.MasterName(), "payguard:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ClaimEvent(ctx, "ns", "warm", time.Minute); err != nil {
		t.Fatal(err) // a pooled connection to the master now exists
	}
	if got := sn.Master().NewClient(t).Exists(ctx, "payguard:ns:evt:warm").Val(); got != 1 {
		t.Fatalf("the claim did not reach the master (EXISTS = %d)", got)
	}

	sn.Master().Stop()
	checkDown := func(when string) {
		t.Helper()
		start := time.Now()
		for op, err := range allOps(ctx, s) {
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("%s with the master down (%s): %v, want ErrUnavailable", op, when, err)
			}
		}
		if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Ping with the master down (%s): %v", when, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("six operations against a dead master (%s) took %v", when, d)
		}
	}
	checkDown("just stopped")

	// Let the sentinels see it too: subjectively down after
	// down-after-milliseconds (500ms).
	sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addrs()[0]})
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		flags := sc.Master(ctx, sn.MasterName()).Val()["flags"]
		if strings.Contains(flags, "s_down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel never flagged the stopped master down (flags %q)", flags)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkDown("flagged down by the sentinels")

	sn.Master().Restart()
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := s.ClaimEvent(ctx, "ns", "after", time.Minute)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after the master restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for op, err := range allOps(ctx, s) {
		if err != nil {
			t.Errorf("%s after recovery: %v", op, err)
		}
	}
	if got := sn.Master().NewClient(t).Exists(ctx, "payguard:ns:evt:after").Val(); got != 1 {
		t.Fatalf("after recovery the claim did not reach the restarted master (EXISTS = %d)", got)
	}
}

// A hung server (accepts, never answers) is bounded by the caller's context
// deadline, and without one by the default read timeout.
func TestRedisHungServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, err := OpenRedis(srv.URL(), nil, "", "payguard:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Freeze()
	defer srv.Thaw()

	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.ClaimEvent(cctx, "ns", "evt", time.Second)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ClaimEvent on a hung server: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second { // generous: CI machines stall
		t.Errorf("the 200ms context deadline took %v to fire", d)
	}

	start = time.Now()
	_, err = s.RecordNonce(ctx, "ns", "n", time.Second)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RecordNonce on a hung server: %v", err)
	}
	// One attempt plus DefaultMaxRetries, each bounded by DefaultReadTimeout
	// (go-redis's own defaults would take 4 x 3s), plus room for a slow CI.
	if d, limit := time.Since(start), time.Duration(DefaultMaxRetries+1)*DefaultReadTimeout+2*time.Second; d > limit {
		t.Errorf("without a deadline the call took %v, want under %v", d, limit)
	}
}

func TestRedisWrongPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--user", "payguard", "on", ">right-one", "~*", "+@all")
	s, err := OpenRedis("redis://payguard:wrong-one-xyz@"+srv.Addr(), nil, "", "p:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.ClaimEvent(ctx, "ns", "evt", time.Second)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ClaimEvent with a wrong password: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "wrong-one-xyz") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestRedisCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, err := OpenRedis(srv.URL(), nil, "", "p:")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.ClaimEvent(ctx, "ns", "evt", time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ClaimEvent after Close: %v", err)
	}
}
