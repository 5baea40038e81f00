package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMasterName is the name under which StartSentinel's sentinels
// monitor the master.
const SentinelMasterName = "mymaster"

// Sentinel is a master redis-server watched by one or more Redis Sentinel
// processes, owned by a test. There are no replicas, so a sentinel can never
// complete a failover: when the master is stopped the sentinels keep
// naming it, and once it is restarted on the same port clients find it
// again. That is the outage a Sentinel deployment goes through while its
// master restarts, without the nondeterminism of a real promotion.
type Sentinel struct {
	master    *Server
	sentinels []*Server
}

// StartSentinel starts a master (as Start does) and n sentinels monitoring
// it as SentinelMasterName with quorum 1 and short timeouts
// (down-after-milliseconds 500, failover-timeout 2000). The sentinels are
// `redis-server <config> --sentinel`, the same binary as the master, since
// redis-sentinel is often not installed; each gets a generated, writable
// config file (sentinels rewrite it) in its own t.TempDir(). StartSentinel
// returns once every sentinel names the master in SENTINEL
// get-master-addr-by-name and reports its link to it up. Like Start, it
// fails the test when anything cannot start and never skips; all processes
// are killed when the test ends.
func StartSentinel(t testing.TB, n int) *Sentinel {
	t.Helper()
	if n < 1 {
		t.Fatalf("redistest: a sentinel setup needs at least one sentinel")
	}
	sn := &Sentinel{master: Start(t)}
	conf := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]d 1
sentinel down-after-milliseconds %[1]s 500
sentinel failover-timeout %[1]s 2000
`, SentinelMasterName, sn.master.Port())
	for range n {
		sn.sentinels = append(sn.sentinels, startServer(t, &Server{sentinelConf: conf}, 0))
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, s := range sn.sentinels {
		cl := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
		err := sentinelReady(ctx, cl, sn.master.Addr())
		_ = cl.Close()
		if err != nil {
			t.Fatalf("redistest: sentinel %s does not see master %s: %v\nsentinel output:\n%s", s.Addr(), sn.master.Addr(), err, s.Output())
		}
	}
	return sn
}

// sentinelReady polls cl until it names wantMaster for SentinelMasterName
// and its flags say plain "master": connected, not subjectively down.
func sentinelReady(ctx context.Context, cl *redis.SentinelClient, wantMaster string) error {
	for {
		err := func() error {
			addr, err := cl.GetMasterAddrByName(ctx, SentinelMasterName).Result()
			if err != nil {
				return err
			}
			if len(addr) != 2 || addr[0]+":"+addr[1] != wantMaster {
				return fmt.Errorf("get-master-addr-by-name says %v", addr)
			}
			info, err := cl.Master(ctx, SentinelMasterName).Result()
			if err != nil {
				return err
			}
			if info["flags"] != "master" {
				return fmt.Errorf("master flags %q", info["flags"])
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Addrs lists the sentinels' host:port, the addrs of a Sentinel store.
func (sn *Sentinel) Addrs() []string {
	addrs := make([]string, len(sn.sentinels))
	for i, s := range sn.sentinels {
		addrs[i] = s.Addr()
	}
	return addrs
}

// MasterName is the name the sentinels monitor the master under.
func (sn *Sentinel) MasterName() string { return SentinelMasterName }

// Master is the monitored redis-server, to stop and restart.
func (sn *Sentinel) Master() *Server { return sn.master }

// Sentinels are the sentinel processes (stoppable and restartable like any
// Server; a restarted sentinel keeps the config it rewrote).
func (sn *Sentinel) Sentinels() []*Server { return sn.sentinels }

// NewClient returns a go-redis failover client that finds the master
// through the sentinels, closed when the test ends.
func (sn *Sentinel) NewClient(t testing.TB) *redis.Client {
	cl := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    SentinelMasterName,
		SentinelAddrs: sn.Addrs(),
	})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// writeSentinelConf writes sentinelConf to the server's directory unless a
// previous launch left its (rewritten) config there, and returns the path.
func (s *Server) writeSentinelConf() (string, error) {
	path := filepath.Join(s.dir, "sentinel.conf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.WriteFile(path, []byte(s.sentinelConf), 0o600); err != nil {
		return "", fmt.Errorf("sentinel config: %v", err)
	}
	return path, nil
}
