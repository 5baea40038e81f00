package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots of every Redis Cluster.
const clusterSlots = 16384

// Cluster is a Redis Cluster of masters without replicas, owned by a test.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n redis-server processes in cluster mode and joins
// them into one cluster, each master owning an equal share of the 16384
// slots. It does the joining itself (CLUSTER SET-CONFIG-EPOCH, ADDSLOTS,
// MEET) rather than through `redis-cli --cluster create`, so redis-cli is
// not needed. It returns once every node reports cluster_state:ok and the
// same slot map.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("redistest: a cluster needs at least one node")
	}
	c := &Cluster{}
	for range n {
		// The cluster bus listens on port+10000.
		c.Servers = append(c.Servers, start(t, nil, 10000, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // see startTimeout
	defer cancel()
	clients := make([]*redis.Client, n)
	for i, s := range c.Servers {
		clients[i] = s.NewClient(t)
	}
	for i, cl := range clients {
		if err := cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			t.Fatalf("redistest: cluster set-config-epoch: %v", err)
		}
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n-1
		args := []any{"CLUSTER", "ADDSLOTS"}
		for slot := lo; slot <= hi; slot++ {
			args = append(args, slot)
		}
		if err := cl.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("redistest: cluster addslots %d-%d: %v", lo, hi, err)
		}
	}
	for _, s := range c.Servers[1:] {
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", s.Port()).Err(); err != nil {
			t.Fatalf("redistest: cluster meet: %v", err)
		}
	}
	for {
		err := clusterReady(ctx, clients)
		if err == nil {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: cluster did not converge: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addrs lists the nodes' host:port, the seed list for a ClusterClient.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		addrs[i] = s.Addr()
	}
	return addrs
}

// NewClient returns a go-redis ClusterClient for the cluster, closed when
// the test ends.
func (c *Cluster) NewClient(t testing.TB) *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// clusterReady reports nil once every node sees state ok, all nodes, and all
// slots assigned; a client seeded from any node then gets a complete map.
func clusterReady(ctx context.Context, clients []*redis.Client) error {
	for i, cl := range clients {
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		for _, want := range []string{
			"cluster_state:ok",
			fmt.Sprintf("cluster_known_nodes:%d", len(clients)),
			fmt.Sprintf("cluster_slots_ok:%d", clusterSlots),
		} {
			if !strings.Contains(info, want) {
				return fmt.Errorf("node %d: no %s yet", i, want)
			}
		}
		nodes, err := cl.ClusterNodes(ctx).Result()
		if err != nil {
			return err
		}
		// Every node must know every other by address, not only by the
		// handshake placeholder, or a client may be redirected nowhere.
		if strings.Contains(nodes, "handshake") || strings.Count(strings.TrimSpace(nodes), "\n")+1 != len(clients) {
			return fmt.Errorf("node %d: membership not settled", i)
		}
	}
	return nil
}
