package redistest

import (
	"context"
	"net"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Commands counts what a go-redis client sends: every command, and every
// command of a pipeline, by name (evalsha, eval, get, ...). Add it with
// client.AddHook; the count is what crosses the network, so a test can
// assert the round trips an operation costs.
type Commands struct {
	mu    sync.Mutex
	names []string
}

var _ redis.Hook = (*Commands)(nil)

// DialHook implements redis.Hook; dials are not commands.
func (c *Commands) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook implements redis.Hook.
func (c *Commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (c *Commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.add(cmd)
		}
		return next(ctx, cmds)
	}
}

func (c *Commands) add(cmd redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, strings.ToLower(cmd.Name()))
}

// Take returns the commands counted since the last Take and starts over.
func (c *Commands) Take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.names
	c.names = nil
	return out
}

// CountedClient returns a client for s whose commands are counted, for a
// store to own (its Close closes the client).
func (s *Server) CountedClient() (*redis.Client, *Commands) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: s.TLSConfig()})
	cmds := &Commands{}
	c.AddHook(cmds)
	return c, cmds
}
