package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/caddyfileopts"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sim"
)

func init() {
	caddy.RegisterModule(SimHandler{})
	httpcaddyfile.RegisterHandlerDirective("payguard_sim", parseSimDirective)
	// Before respond, so a site can end with a catch-all respond for
	// everything the sandbox does not serve; no `order` line needed.
	httpcaddyfile.RegisterDirectiveOrder("payguard_sim", httpcaddyfile.Before, "respond")
}

// simBooks keeps each sandbox's order book across config reloads, keyed by
// its keys directory: a reload must not make the sandbox forget the orders
// it was told about (the sidecar would then see query_mismatch).
var simBooks = caddy.NewUsagePool()

// SimHandler is the `payguard_sim` handler: the provider sandbox of
// `payguard sim serve` (the providers' query APIs and the control API the
// `payguard sim notify` command registers orders with) inside Caddy, so one
// `payguard run` can host the sidecar, the sandbox and the example shop.
// Requests for paths the sandbox does not serve go to the next handler.
//
//	payguard_sim {
//		keys <dir>
//	}
//
// It is a test tool: anyone who can reach it can register orders that its
// query APIs will then confirm. Never serve it on a public address.
type SimHandler struct {
	// Keys is the sandbox keys directory (as written by `payguard sim
	// keys`, or examples/keys). Placeholders are resolved at provision.
	Keys string `json:"keys,omitempty"`

	server  *sim.Server
	bookKey string
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (SimHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.payguard_sim",
		New: func() caddy.Module { return new(SimHandler) },
	}
}

// Provision reads and parses the keys once and builds the sandbox.
func (h *SimHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Keys == "" {
		return fmt.Errorf("payguard_sim: keys <dir> is required")
	}
	dir, err := caddy.NewReplacer().ReplaceOrErr(h.Keys, true, true)
	if err != nil {
		return fmt.Errorf("payguard_sim: keys: %v", err)
	}
	logf := func(format string, args ...any) {
		h.logger.Info("sandbox: " + fmt.Sprintf(format, args...))
	}
	abs := sim.KeysDirPath(dir)
	h.bookKey = "payguard_sim:" + abs
	val, _, err := simBooks.LoadOrNew(h.bookKey, func() (caddy.Destructor, error) {
		return sim.NewOrderBook(), nil
	})
	if err != nil {
		return fmt.Errorf("payguard_sim: %v", err)
	}
	if h.server, err = sim.Open(dir, val.(*sim.OrderBook), logf); err != nil {
		simBooks.Delete(h.bookKey)
		h.bookKey = ""
		return fmt.Errorf("payguard_sim: %v", err)
	}
	h.logger.Warn("payguard_sim serves a payment-provider SANDBOX with test keys: anyone who reaches it can register orders it will confirm; never expose it publicly",
		zap.String("keys", abs), zap.Strings("providers", h.server.Names()))
	return nil
}

// Cleanup releases this config's hold on the shared order book.
func (h *SimHandler) Cleanup() error {
	if h.bookKey != "" {
		_, err := simBooks.Delete(h.bookKey)
		return err
	}
	return nil
}

// ServeHTTP serves the sandbox's routes and passes anything else on.
func (h *SimHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.server.Handles(r) {
		return next.ServeHTTP(w, r)
	}
	// WeChat v3 queries are signed over the request URI as the client sent
	// it; Caddy's rewrites (handle_path) update r.RequestURI, so give the
	// sandbox the original one.
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.RequestURI != "" && orig.RequestURI != r.RequestURI {
		r = r.WithContext(r.Context())
		r.RequestURI = orig.RequestURI
	}
	h.server.ServeHTTP(w, r)
	return nil
}

func parseSimDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(SimHandler)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile parses the block SimHandler shows. The keys are read
// and checked while adapting when the path holds no placeholder, so a
// wrong directory fails `payguard validate` with the line.
func (h *SimHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	b := &caddyfileopts.Block{
		Twice:    "payguard_sim: ",
		Options:  []caddyfileopts.Option{{Name: "keys", Kind: caddyfileopts.String, To: &h.Keys}},
		Unknownf: "payguard_sim: unknown option %q",
	}
	if err := b.WalkBare(d); err != nil {
		return err
	}
	if h.Keys == "" {
		return d.Err("payguard_sim: keys <dir> is required")
	}
	if !provider.HasPlaceholder(h.Keys) { // a placeholder is only known at provision
		if _, err := sim.Load(h.Keys, provider.SandboxOptions{}); err != nil {
			return d.Errf("payguard_sim: %v", err)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SimHandler)(nil)
	_ caddy.CleanerUpper          = (*SimHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*SimHandler)(nil)
	_ caddyfile.Unmarshaler       = (*SimHandler)(nil)
)
