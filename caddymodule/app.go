// Package caddymodule is payguard's Caddy glue: the `payguard` app (the
// store and audit sink every route shares), the `payguard` HTTP handler,
// the provider guest modules, Caddyfile parsing and subcommands. It only
// wires the Caddy-free packages under internal/ together.
package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/metrics"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/store"
)

func init() {
	caddy.RegisterModule(App{})
}

// stores keeps store connections (and the memory store's state) alive across
// config reloads: a reload must not forget which events were delivered.
var stores = caddy.NewUsagePool()

// App is the `payguard` app: the shared store and audit sink. With no
// configuration at all the store is in memory, the embedded default.
type App struct {
	// Store is where claims, nonces and paid orders are kept.
	Store *StoreConfig `json:"store,omitempty"`
	// Audit is where one record per notification goes; none by default.
	Audit *AuditConfig `json:"audit,omitempty"`

	// store is the shared store as the routes use it: observed, each
	// unavailable operation counted in payguard_store_errors_total.
	store store.Store
	// redis is the same store unobserved when it is Redis (its client is
	// the audit stream's default), nil otherwise.
	redis    *store.Redis
	storeKey string
	audit    audit.Sink
	// recoveries are this config's recover routes (recovery_run.go).
	recoveries *recovery.Routes
	// auditClient is the audit stream's own Redis connection (audit url),
	// closed after the sink; nil when the stream shares the store's.
	auditClient redis.UniversalClient
	logger      *zap.Logger
}

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

// evictionCheckTimeout bounds the start-up check of maxmemory-policy: an
// unreachable Redis must not hold the server's start (requests fail
// closed until it is back).
const evictionCheckTimeout = 2 * time.Second

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "payguard",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision opens (or reuses, across reloads) the store and the audit sink.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.recoveries = &recovery.Routes{}
	if a.Store == nil {
		a.Store = &StoreConfig{Type: "memory"}
	}
	if err := a.Validate(); err != nil {
		return err
	}
	var inline []string
	if hasInlinePassword(a.Store.URL) {
		inline = append(inline, "store url (its password)")
	}
	if a.Audit != nil && hasInlinePassword(a.Audit.URL) {
		inline = append(inline, "audit url (its password)")
	}
	warnInlineSecrets(ctx, a.logger, "payguard app", inline)
	if err := metrics.Register(ctx.GetMetricsRegistry(), metrics.App()...); err != nil {
		return fmt.Errorf("payguard: registering metrics: %v", err)
	}
	repl := caddy.NewReplacer()
	if err := a.provisionStore(repl); err != nil {
		return err
	}
	return a.provisionAudit(repl)
}

func (a *App) provisionStore(repl *caddy.Replacer) error {
	cfg := *a.Store
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "payguard:"
	}
	url, err := repl.ReplaceOrErr(cfg.URL, true, true)
	if cfg.Type == "redis" && err != nil {
		return fmt.Errorf("payguard store: redis url: %v", err)
	}
	cfg.URL = url
	// Seed lists and the master name may come from the environment too.
	cfg.Addrs = nil
	for _, addr := range a.Store.Addrs {
		v, err := repl.ReplaceOrErr(addr, true, true)
		if err != nil {
			return fmt.Errorf("payguard store: addrs: %v", err)
		}
		cfg.Addrs = append(cfg.Addrs, strings.Fields(v)...)
	}
	if cfg.MasterName, err = repl.ReplaceOrErr(cfg.MasterName, false, true); err != nil {
		return fmt.Errorf("payguard store: master_name: %v", err)
	}
	// The key identifies the resolved config without holding its password.
	raw, _ := json.Marshal(cfg)
	sum := sha256.Sum256(raw)
	a.storeKey = hex.EncodeToString(sum[:])
	val, loaded, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
		s, err := openStore(cfg)
		if err != nil {
			return nil, err
		}
		return storeDestructor{s}, nil
	})
	if err != nil {
		return fmt.Errorf("payguard store: %v", err)
	}
	st := val.(storeDestructor).Store
	kind := "memory"
	if rs, ok := st.(*store.Redis); ok {
		kind, a.redis = "redis", rs
		if !loaded {
			// Once per connection pool, not on every reload.
			a.checkEviction("store", rs.Client())
		}
	}
	a.store = store.Observe(st, metrics.StoreErrors(kind))
	return nil
}

func (a *App) provisionAudit(repl *caddy.Replacer) error {
	a.audit = audit.Discard
	if a.Audit == nil {
		return nil
	}
	switch a.Audit.Type {
	case "file":
		path, err := repl.ReplaceOrErr(a.Audit.Path, true, true)
		if err != nil {
			return fmt.Errorf("payguard audit file: %v", err)
		}
		sink, err := audit.NewFileSink(path)
		if err != nil {
			return fmt.Errorf("payguard audit file: %v", err)
		}
		a.audit = audit.Observe(sink, metrics.AuditErrors())
	case "redis_stream":
		client, err := a.auditRedis(repl)
		if err != nil {
			return err
		}
		a.audit = audit.Observe(audit.NewRedisStreamSink(client, a.Audit.Stream, audit.WithMaxLen(a.Audit.MaxLen)), metrics.AuditErrors())
	}
	return nil
}

// auditRedis is the audit stream's client: its own (url), or the store's.
func (a *App) auditRedis(repl *caddy.Replacer) (redis.UniversalClient, error) {
	if a.Audit.URL == "" {
		if a.redis == nil {
			return nil, fmt.Errorf("payguard audit redis_stream needs store redis, or its own url")
		}
		return a.redis.Client(), nil
	}
	url, err := repl.ReplaceOrErr(a.Audit.URL, true, true)
	if err != nil {
		return nil, fmt.Errorf("payguard audit redis_stream: url: %v", err)
	}
	opts, err := store.ParseRedisURL(url, nil, "")
	if err != nil {
		return nil, fmt.Errorf("payguard audit redis_stream: %v", err)
	}
	a.auditClient = redis.NewUniversalClient(opts)
	if err := store.TraceRedis(a.auditClient); err != nil {
		return nil, fmt.Errorf("payguard audit redis_stream: %v", err)
	}
	a.checkEviction("audit stream", a.auditClient)
	return a.auditClient, nil
}

// checkEviction logs an error when the Redis may evict keys (DESIGN.md
// section 6): an evicted claim delivers a notification twice, an evicting
// audit stream's Redis loses records. Where CONFIG GET is refused, a
// warning says it could not be checked.
func (a *App) checkEviction(what string, c redis.UniversalClient) {
	ctx, cancel := context.WithTimeout(context.Background(), evictionCheckTimeout)
	defer cancel()
	policy, err := store.EvictionPolicy(ctx, c)
	switch {
	case err != nil:
		a.logger.Warn("could not check the Redis maxmemory-policy; it must be noeviction, or Redis may evict claims and deliver a notification twice",
			zap.String("redis", what), zap.Error(err))
	case policy != store.NoEviction:
		a.logger.Error("Redis maxmemory-policy is not noeviction: Redis may evict claims and nonces and deliver a notification twice; set maxmemory-policy noeviction",
			zap.String("redis", what), zap.String("maxmemory_policy", policy))
	}
}

// Validate checks the configuration without touching the network.
func (a *App) Validate() error {
	if a.Store != nil {
		switch a.Store.Type {
		case "", "memory":
		case "redis":
			if a.Store.URL == "" && len(a.Store.Addrs) == 0 {
				return fmt.Errorf("payguard store redis: a URL or addrs is required")
			}
		default:
			return fmt.Errorf("payguard store: unknown type %q (memory or redis)", a.Store.Type)
		}
	}
	if a.Audit != nil {
		switch a.Audit.Type {
		case "file":
			if a.Audit.Path == "" {
				return fmt.Errorf("payguard audit file: a path is required")
			}
		case "redis_stream":
			if a.Audit.Stream == "" {
				return fmt.Errorf("payguard audit redis_stream: a stream name is required")
			}
			if a.Audit.MaxLen < 0 {
				return fmt.Errorf("payguard audit redis_stream: maxlen must be positive")
			}
		default:
			return fmt.Errorf("payguard audit: unknown type %q (file or redis_stream)", a.Audit.Type)
		}
	}
	return nil
}

// Start implements caddy.App; the store is opened at provision.
func (a *App) Start() error { return nil }

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the shared store and closes the
// audit sink.
func (a *App) Cleanup() error {
	if a.audit != nil {
		_ = a.audit.Close()
	}
	if a.auditClient != nil {
		_ = a.auditClient.Close()
	}
	if a.storeKey != "" {
		_, err := stores.Delete(a.storeKey)
		return err
	}
	return nil
}

func openStore(cfg StoreConfig) (store.Store, error) {
	switch cfg.Type {
	case "redis":
		// A reachable Redis is not required to start: each request fails
		// closed (503 store_unavailable) and recovers without a restart.
		rs, err := store.OpenRedis(cfg.URL, cfg.Addrs, cfg.MasterName, cfg.KeyPrefix)
		if err != nil {
			return nil, err
		}
		// Commands become spans under the stage spans when the route is
		// traced (Caddy's tracing directive), and cost nothing otherwise.
		if err := store.TraceRedis(rs.Client()); err != nil {
			_ = rs.Close()
			return nil, err
		}
		return rs, nil
	default:
		return store.NewMemory(cfg.KeyPrefix), nil
	}
}

type storeDestructor struct{ store.Store }

func (s storeDestructor) Destruct() error { return s.Store.Close() }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
