package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// NoEviction is the only maxmemory-policy under which Redis never forgets
// a key it was asked to keep: every other policy may evict a claim (the
// event is then delivered twice) or a nonce.
const NoEviction = "noeviction"

// ErrPolicyUnknown is returned by EvictionPolicy when a server refuses
// CONFIG GET (managed services often rename or forbid it) or does not
// answer: the policy could not be checked.
var ErrPolicyUnknown = errors.New("maxmemory-policy could not be read")

// EvictionPolicy reads maxmemory-policy (CONFIG GET) from every server the
// client writes to: the one server, the Sentinel's current master, or each
// Cluster master. It returns NoEviction when all of them have it, else the
// first other policy found with the address that has it. An error wraps
// ErrPolicyUnknown.
func EvictionPolicy(ctx context.Context, c redis.UniversalClient) (policy string, err error) {
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		found := map[string]string{}
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			p, err := readPolicy(ctx, node)
			if err != nil {
				return err
			}
			mu.Lock()
			found[node.Options().Addr] = p
			mu.Unlock()
			return nil
		})
		if err != nil {
			return "", err
		}
		return worstPolicy(found), nil
	}
	return readPolicy(ctx, c)
}

// configGetter is the one command EvictionPolicy needs.
type configGetter interface {
	ConfigGet(ctx context.Context, parameter string) *redis.MapStringStringCmd
}

func readPolicy(ctx context.Context, c configGetter) (string, error) {
	m, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", fmt.Errorf("%w: CONFIG GET: %w", ErrPolicyUnknown, err)
	}
	p, ok := m["maxmemory-policy"]
	if !ok || p == "" {
		return "", fmt.Errorf("%w: CONFIG GET returned no maxmemory-policy", ErrPolicyUnknown)
	}
	return strings.ToLower(p), nil
}

// worstPolicy is NoEviction when every node has it, else "policy (at addr)"
// for the first node (by address) that does not.
func worstPolicy(byAddr map[string]string) string {
	addrs := make([]string, 0, len(byAddr))
	for a := range byAddr {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		if byAddr[a] != NoEviction {
			return byAddr[a] + " (at " + a + ")"
		}
	}
	return NoEviction
}

// EvictionPolicy is the package function for the store's own client.
func (r *Redis) EvictionPolicy(ctx context.Context) (string, error) {
	return EvictionPolicy(ctx, r.client)
}
