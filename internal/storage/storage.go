// Package storage is the store and audit sink a payguard process shares
// between its routes: their configuration (the JSON of Caddy's `payguard`
// app), its checks and defaults, resolving its placeholders, opening them,
// and the key under which an open store is shared across config reloads.
// Keeping the open store alive between reloads (Caddy's usage pool) is the
// host's.
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/store"
)

// StoreConfig selects the store.
type StoreConfig struct {
	// Type is "memory" (default) or "redis".
	Type string `json:"type,omitempty"`
	// URL is the Redis URL (redis:// or rediss://, with ACL user and
	// password where needed). Placeholders such as {env.REDIS_URL} are
	// resolved at provision and never written back.
	URL string `json:"url,omitempty"`
	// KeyPrefix is prepended to every key; default "payguard:".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// Addrs are cluster or sentinel seed addresses.
	Addrs []string `json:"addrs,omitempty"`
	// MasterName selects Sentinel mode.
	MasterName string `json:"master_name,omitempty"`
}

// AuditConfig selects the audit sink.
type AuditConfig struct {
	// Type is "file" or "redis_stream".
	Type string `json:"type"`
	// Path of the JSON lines file (type file).
	Path string `json:"path,omitempty"`
	// Stream name (type redis_stream).
	Stream string `json:"stream,omitempty"`
	// MaxLen caps the stream at about this many entries (XADD MAXLEN ~);
	// default 100000.
	MaxLen int64 `json:"maxlen,omitempty"`
	// URL is the stream's own Redis (redis:// or rediss://), so audit
	// records never share memory with the claims; default: the store's
	// Redis (the store must then be redis). Placeholders are resolved at
	// provision.
	URL string `json:"url,omitempty"`
}

// DefaultKeyPrefix is the store's key prefix when none is configured.
const DefaultKeyPrefix = "payguard:"

// Replace resolves the placeholders of one configured value; an unknown
// placeholder is an error, and so is an empty result when errOnEmpty.
type Replace func(in string, errOnEmpty bool) (string, error)

// Validate checks the configuration without touching the network; either
// may be nil (no store configured: memory; no audit: none).
func Validate(st *StoreConfig, au *AuditConfig) error {
	if st != nil {
		switch st.Type {
		case "", "memory":
		case "redis":
			if st.URL == "" && len(st.Addrs) == 0 {
				return fmt.Errorf("payguard store redis: a URL or addrs is required")
			}
		default:
			return fmt.Errorf("payguard store: unknown type %q (memory or redis)", st.Type)
		}
	}
	if au != nil {
		switch au.Type {
		case "file":
			if au.Path == "" {
				return fmt.Errorf("payguard audit file: a path is required")
			}
		case "redis_stream":
			if au.Stream == "" {
				return fmt.Errorf("payguard audit redis_stream: a stream name is required")
			}
			if au.MaxLen < 0 {
				return fmt.Errorf("payguard audit redis_stream: maxlen must be positive")
			}
		default:
			return fmt.Errorf("payguard audit: unknown type %q (file or redis_stream)", au.Type)
		}
	}
	return nil
}

// InlineSecrets names the options that carry a password in the config
// itself rather than through a placeholder (for the host's warning).
func InlineSecrets(st *StoreConfig, au *AuditConfig) []string {
	var inline []string
	if st != nil && store.HasInlinePassword(st.URL) {
		inline = append(inline, "store url (its password)")
	}
	if au != nil && store.HasInlinePassword(au.URL) {
		inline = append(inline, "audit url (its password)")
	}
	return inline
}

// Resolve is the store config as it is opened: the default key prefix,
// placeholders resolved (an unresolvable URL only matters for redis), the
// seed list split on spaces (one placeholder may hold several addresses).
func (c StoreConfig) Resolve(replace Replace) (StoreConfig, error) {
	out := c
	if out.KeyPrefix == "" {
		out.KeyPrefix = DefaultKeyPrefix
	}
	url, err := replace(c.URL, true)
	if c.Type == "redis" && err != nil {
		return out, fmt.Errorf("payguard store: redis url: %v", err)
	}
	out.URL = url
	out.Addrs = nil
	for _, addr := range c.Addrs {
		v, err := replace(addr, true)
		if err != nil {
			return out, fmt.Errorf("payguard store: addrs: %v", err)
		}
		out.Addrs = append(out.Addrs, strings.Fields(v)...)
	}
	if out.MasterName, err = replace(c.MasterName, false); err != nil {
		return out, fmt.Errorf("payguard store: master_name: %v", err)
	}
	return out, nil
}

// Key identifies a resolved store config without holding its password:
// two configs with the same key share one open store.
func (c StoreConfig) Key() string {
	raw, _ := json.Marshal(c)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// OpenStore opens a resolved store config.
func OpenStore(c StoreConfig) (store.Store, error) {
	if c.Type != "redis" {
		return store.NewMemory(c.KeyPrefix), nil
	}
	// A reachable Redis is not required to start: each request fails
	// closed (503 store_unavailable) and recovers without a restart.
	rs, err := store.OpenRedis(c.URL, c.Addrs, c.MasterName, c.KeyPrefix)
	if err != nil {
		return nil, err
	}
	// Commands become spans under the stage spans when the route is
	// traced, and cost nothing otherwise.
	if err := store.TraceRedis(rs.Client()); err != nil {
		_ = rs.Close()
		return nil, err
	}
	return rs, nil
}

// Audit is an opened audit sink.
type Audit struct {
	// Sink is where the records go: audit.Discard when none is configured.
	Sink audit.Sink
	// Client is the stream's own Redis connection (its url), for the host
	// to close after the sink; nil when the stream shares the store's.
	Client redis.UniversalClient
}

// OpenAudit opens the audit sink of c (nil: none). storeRedis is the
// store's Redis, the stream's default; nil when the store is not Redis.
// A connection of its own is checked for eviction as the store's is.
func OpenAudit(c *AuditConfig, replace Replace, storeRedis *store.Redis, log *zap.Logger) (Audit, error) {
	if c == nil {
		return Audit{Sink: audit.Discard}, nil
	}
	switch c.Type {
	case "file":
		path, err := replace(c.Path, true)
		if err != nil {
			return Audit{}, fmt.Errorf("payguard audit file: %v", err)
		}
		sink, err := audit.NewFileSink(path)
		if err != nil {
			return Audit{}, fmt.Errorf("payguard audit file: %v", err)
		}
		return Audit{Sink: sink}, nil
	case "redis_stream":
		client, own, err := auditRedis(c, replace, storeRedis)
		if err != nil {
			return Audit{}, err
		}
		if own != nil {
			CheckEviction(log, "audit stream", own)
		}
		return Audit{Sink: audit.NewRedisStreamSink(client, c.Stream, audit.WithMaxLen(c.MaxLen)), Client: own}, nil
	}
	return Audit{Sink: audit.Discard}, nil
}

// auditRedis is the audit stream's client: its own (url), or the store's.
func auditRedis(c *AuditConfig, replace Replace, storeRedis *store.Redis) (client, own redis.UniversalClient, err error) {
	if c.URL == "" {
		if storeRedis == nil {
			return nil, nil, fmt.Errorf("payguard audit redis_stream needs store redis, or its own url")
		}
		return storeRedis.Client(), nil, nil
	}
	url, err := replace(c.URL, true)
	if err != nil {
		return nil, nil, fmt.Errorf("payguard audit redis_stream: url: %v", err)
	}
	opts, err := store.ParseRedisURL(url, nil, "")
	if err != nil {
		return nil, nil, fmt.Errorf("payguard audit redis_stream: %v", err)
	}
	own = redis.NewUniversalClient(opts)
	if err := store.TraceRedis(own); err != nil {
		_ = own.Close()
		return nil, nil, fmt.Errorf("payguard audit redis_stream: %v", err)
	}
	return own, own, nil
}

// EvictionCheckTimeout bounds the start-up check of maxmemory-policy: an
// unreachable Redis must not hold the server's start (requests fail
// closed until it is back).
const EvictionCheckTimeout = 2 * time.Second

// CheckEviction logs an error when the Redis may evict keys (DESIGN.md
// section 6): an evicted claim delivers a notification twice, an evicting
// audit stream's Redis loses records. Where CONFIG GET is refused, a
// warning says it could not be checked. what names the Redis in the log.
func CheckEviction(log *zap.Logger, what string, c redis.UniversalClient) {
	ctx, cancel := context.WithTimeout(context.Background(), EvictionCheckTimeout)
	defer cancel()
	policy, err := store.EvictionPolicy(ctx, c)
	switch {
	case err != nil:
		log.Warn("could not check the Redis maxmemory-policy; it must be noeviction, or Redis may evict claims and deliver a notification twice",
			zap.String("redis", what), zap.Error(err))
	case policy != store.NoEviction:
		log.Error("Redis maxmemory-policy is not noeviction: Redis may evict claims and nonces and deliver a notification twice; set maxmemory-policy noeviction",
			zap.String("redis", what), zap.String("maxmemory_policy", policy))
	}
}
