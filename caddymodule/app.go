// Package caddymodule is payguard's Caddy glue: the `payguard` app (the
// store and audit sink every route shares), the `payguard` HTTP handler,
// the provider guest modules, Caddyfile parsing and subcommands. It only
// wires the Caddy-free packages under internal/ together.
package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/metrics"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/storage"
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
	Store *storage.StoreConfig `json:"store,omitempty"`
	// Audit is where one record per notification goes; none by default.
	Audit *storage.AuditConfig `json:"audit,omitempty"`

	// store is the shared store as the routes use it: observed, each
	// unavailable operation counted in payguard_store_errors_total.
	store store.Store
	// redis is the same store unobserved when it is Redis (its client is
	// the audit stream's default), nil otherwise.
	redis    *store.Redis
	storeKey string
	audit    audit.Sink
	// recoveries are this config's recover routes (recovery.go).
	recoveries *recovery.Routes
	// auditClient is the audit stream's own Redis connection (audit url),
	// closed after the sink; nil when the stream shares the store's.
	auditClient redis.UniversalClient
	logger      *zap.Logger
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
	a.recoveries = &recovery.Routes{}
	if a.Store == nil {
		a.Store = &storage.StoreConfig{Type: "memory"}
	}
	if err := a.Validate(); err != nil {
		return err
	}
	warnInlineSecrets(ctx, a.logger, "payguard app", storage.InlineSecrets(a.Store, a.Audit))
	if err := metrics.Register(ctx.GetMetricsRegistry(), metrics.App()...); err != nil {
		return fmt.Errorf("payguard: registering metrics: %v", err)
	}
	replace := replacer()
	if err := a.provisionStore(replace); err != nil {
		return err
	}
	return a.provisionAudit(replace)
}

// replacer resolves {env.*} and {file.*} in the app's options.
func replacer() storage.Replace {
	repl := caddy.NewReplacer()
	return func(in string, errOnEmpty bool) (string, error) { return repl.ReplaceOrErr(in, errOnEmpty, true) }
}

// placeholders resolves {env.*} and {file.*} in one option's value: an
// unknown placeholder or an empty result is an error.
func placeholders() func(string) (string, error) {
	repl := caddy.NewReplacer()
	return func(s string) (string, error) { return repl.ReplaceOrErr(s, true, true) }
}

// provisionStore opens the store, or takes the one a previous config with
// the same resolved options opened: its claims survive the reload.
func (a *App) provisionStore(replace storage.Replace) error {
	cfg, err := a.Store.Resolve(replace)
	if err != nil {
		return err
	}
	a.storeKey = cfg.Key()
	val, loaded, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
		s, err := storage.OpenStore(cfg)
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
			storage.CheckEviction(a.logger, "store", rs.Client())
		}
	}
	a.store = store.Observe(st, metrics.StoreErrors(kind))
	return nil
}

func (a *App) provisionAudit(replace storage.Replace) error {
	opened, err := storage.OpenAudit(a.Audit, replace, a.redis, a.logger)
	if err != nil {
		return err
	}
	a.audit, a.auditClient = opened.Sink, opened.Client
	if a.audit != audit.Discard {
		a.audit = audit.Observe(a.audit, metrics.AuditErrors())
	}
	return nil
}

// Validate checks the configuration without touching the network.
func (a *App) Validate() error { return storage.Validate(a.Store, a.Audit) }

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

type storeDestructor struct{ store.Store }

func (s storeDestructor) Destruct() error { return s.Store.Close() }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
