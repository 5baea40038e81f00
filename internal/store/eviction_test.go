package store

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/payguard/payguard/internal/store/redistest"
)

func TestEvictionPolicy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}, "allkeys-lru"},
		{[]string{"--maxmemory-policy", "volatile-ttl"}, "volatile-ttl"},
		{[]string{"--maxmemory", "64mb", "--maxmemory-policy", "noeviction"}, NoEviction},
	} {
		srv := redistest.Start(t, c.args...)
		s := NewRedis(srv.NewClient(t), "p:")
		got, err := s.EvictionPolicy(context.Background())
		if err != nil || got != c.want {
			t.Errorf("%v: policy %q, %v; want %q", c.args, got, err, c.want)
		}
	}
}

// Managed Redis often forbids CONFIG: the policy is unknown, not fine.
func TestEvictionPolicyRefused(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--rename-command", "CONFIG", "")
	_, err := EvictionPolicy(context.Background(), srv.NewClient(t))
	if !errors.Is(err, ErrPolicyUnknown) {
		t.Fatalf("err %v, want ErrPolicyUnknown", err)
	}
}

// In a cluster every master is asked: one evicting node is enough to lose
// the claims in its slots.
func TestEvictionPolicyCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 2)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if got, err := EvictionPolicy(ctx, c); err != nil || got != NoEviction {
		t.Fatalf("fresh cluster: %q, %v", got, err)
	}
	node := cl.Servers[1]
	if err := node.NewClient(t).ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := EvictionPolicy(ctx, c)
	if want := "allkeys-lru (at " + node.Addr() + ")"; err != nil || got != want {
		t.Fatalf("cluster policy %q, %v; want %q", got, err, want)
	}
}
