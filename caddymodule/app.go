// Package caddymodule is payguard's Caddy glue: the `payguard` app (the
// store and audit sink every route shares), the `payguard` HTTP handler,
// the provider guest modules, Caddyfile parsing and subcommands. It only
// wires the Caddy-free packages under internal/ together.
package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
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

	store    store.Store
	storeKey string
	audit    audit.Sink
	// recoveries are this config's recover routes (recovery_run.go).
	recoveries *recoveryRoutes
	logger     *zap.Logger
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
	// Stream name (type redis_stream; the store must be redis).
	Stream string `json:"stream,omitempty"`
}

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
	a.recoveries = &recoveryRoutes{}
	if a.Store == nil {
		a.Store = &StoreConfig{Type: "memory"}
	}
	if err := a.Validate(); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
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
	val, _, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
		s, err := openStore(cfg)
		if err != nil {
			return nil, err
		}
		return storeDestructor{s}, nil
	})
	if err != nil {
		return fmt.Errorf("payguard store: %v", err)
	}
	a.store = val.(storeDestructor).Store

	a.audit = audit.Discard
	if a.Audit != nil {
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
			a.audit = sink
		case "redis_stream":
			rs, ok := a.store.(*store.Redis)
			if !ok {
				return fmt.Errorf("payguard audit redis_stream needs store redis")
			}
			a.audit = audit.NewRedisStreamSink(rs.Client(), a.Audit.Stream)
		}
	}
	return nil
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
		return store.OpenRedis(cfg.URL, cfg.Addrs, cfg.MasterName, cfg.KeyPrefix)
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
