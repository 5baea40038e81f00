package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/metrics"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/route"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `payguard` HTTP handler: it verifies one provider's
// notifications and passes only verified ones to the next handler
// (normally reverse_proxy to the shop), exactly once.
//
// Placeholders set for the handlers after it:
//
//	{payguard.provider}      the provider name
//	{payguard.event_id}      the provider's event id
//	{payguard.out_trade_no}  the merchant's order number
//	{payguard.reason}        the reason code (after the pipeline ran)
type Handler struct {
	// ProviderRaw is the provider guest module (namespace payguard.providers).
	ProviderRaw json.RawMessage `json:"provider,omitempty" caddy:"namespace=payguard.providers inline_key=name"`

	// AllowIPs are the source addresses or CIDRs notifications may come
	// from, as Caddy resolves the client IP (trusted_proxies honoured).
	// Empty: any source, with a warning at start.
	AllowIPs []string `json:"allow_ips,omitempty"`
	// MaxBody is the largest body accepted, in bytes; default 64KiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Tolerance is the signed-timestamp window; default 5m.
	Tolerance caddy.Duration `json:"tolerance,omitempty"`
	// DedupTTL is how long a delivered event is remembered; default 72h.
	DedupTTL caddy.Duration `json:"dedup_ttl,omitempty"`
	// ClaimLease is how long an in-flight claim blocks other deliveries of
	// the same event; default 30s. It must outlast the upstream's timeout.
	ClaimLease caddy.Duration `json:"claim_lease,omitempty"`
	// ForwardTimeout bounds the wait for the shop's answer (the claim's
	// lease is renewed meanwhile); default 60s. After it the request is
	// cancelled, the claim released, and the provider told 502.
	ForwardTimeout caddy.Duration `json:"forward_timeout,omitempty"`
	// MaxAge is the oldest signed event time accepted where the provider
	// signs no send time; default dedup_ttl.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// Forward is "original" (default) or "normalized".
	Forward string `json:"forward,omitempty"`
	// UpstreamSecrets ("whsec_...") sign what is forwarded in the Standard
	// Webhooks format. Placeholders are resolved at provision.
	UpstreamSecrets []string `json:"upstream_secrets,omitempty"`
	// UpstreamSecretFiles name files holding one such secret each (the
	// upstream_secret_file twin), read at provision, so no secret shows in
	// the admin API's /config/.
	UpstreamSecretFiles []string `json:"upstream_secret_files,omitempty"`
	// OrderNamespace lets routes share duplicate-payment detection.
	OrderNamespace string `json:"order_namespace,omitempty"`
	// AuditRedact lists body fields masked in audit records.
	AuditRedact []string `json:"audit_redact,omitempty"`
	// Query configures the reverse order query.
	Query *QueryConfig `json:"query,omitempty"`
	// PolicyOptions: policy, order_lookup, order_timeout.
	PolicyOptions
	// Recover is lost-callback recovery (DESIGN.md section 11).
	Recover *RecoverConfig `json:"recover,omitempty"`

	provider  *ProviderModule
	pipeline  *pipeline.Pipeline
	app       *App
	logger    *zap.Logger
	telemetry *metrics.Telemetry
	recovery  *recoveryState
}

// QueryConfig is the provider-independent part of the reverse query; the
// credentials belong to the provider module.
type QueryConfig struct {
	// Enabled: nil means on when the provider has query credentials.
	Enabled  *bool          `json:"enabled,omitempty"`
	Endpoint string         `json:"endpoint,omitempty"`
	Timeout  caddy.Duration `json:"timeout,omitempty"`
	// Cache is how long a confirmed answer is reused: nil is the default
	// (30s), 0 never reuses one.
	Cache *caddy.Duration `json:"cache,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.payguard",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision builds the provider and the pipeline: keys are parsed here,
// once, never per request.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := h.loadModules(ctx); err != nil {
		return err
	}
	pm := h.provider
	name := pm.spec.Name
	if pm.watchOpts.Watch {
		warnInlineSecrets(ctx, h.logger, "payguard "+name, pm.watchOpts.InlineSecrets())
		return h.provisionWatch()
	}
	if err := h.Validate(); err != nil {
		return err
	}
	rc := h.routeConfig()
	built, err := pm.build(rc.ProviderSettings(func(msg string) { h.logger.Warn(msg, zap.String("provider", name)) }))
	if err != nil {
		return fmt.Errorf("payguard %s: %v", name, err)
	}
	querier, queryCache, err := rc.Querier(built.Querier)
	if err != nil {
		return fmt.Errorf("payguard %s: %v", name, err)
	}
	cfg, err := rc.Pipeline(placeholders(), expandKnown)
	if err != nil {
		return fmt.Errorf("payguard %s: %v", name, err)
	}
	// Metrics go to this config's registry (the admin endpoint's
	// /metrics); spans under the request's span (Caddy's tracing).
	if err := metrics.Register(ctx.GetMetricsRegistry(), metrics.Handler()...); err != nil {
		return fmt.Errorf("payguard %s: registering metrics: %v", name, err)
	}
	h.telemetry = metrics.New(built.Provider.Name())
	cfg.Provider = built.Provider
	cfg.Store = h.app.store
	cfg.Querier = h.telemetry.TimeQueries(querier)
	cfg.QueryCache = queryCache
	cfg.Observer = h.telemetry
	cfg.SkipAudit = h.app.audit == nil || h.app.audit == audit.Discard
	cfg.Hook = h.recoveryHook(built.Provider.Traits())
	if h.pipeline, err = pipeline.New(cfg); err != nil {
		return err
	}
	route.WarnAtStart(h.logger, name, h.AllowIPs, h.pipeline.MaxAge(), h.pipeline.DedupTTL())
	warnInlineSecrets(ctx, h.logger, "payguard "+name, append(pm.inlineSecrets(), route.InlineUpstreamSecrets(h.UpstreamSecrets)...))
	return h.provisionRecovery(ctx, querier, cfg.UpstreamSecrets)
}

// loadModules loads the provider guest module and the payguard app.
func (h *Handler) loadModules(ctx caddy.Context) error {
	if h.ProviderRaw == nil {
		return fmt.Errorf("payguard: no provider configured")
	}
	mod, err := ctx.LoadModule(h, "ProviderRaw")
	if err != nil {
		return fmt.Errorf("payguard: loading provider: %v", err)
	}
	pm, ok := mod.(*ProviderModule)
	if !ok {
		return fmt.Errorf("payguard: module %T is not a payguard provider", mod)
	}
	h.provider = pm
	appIface, err := ctx.App("payguard")
	if err != nil {
		return fmt.Errorf("payguard: loading the payguard app: %v", err)
	}
	h.app = appIface.(*App)
	return nil
}

// routeConfig is the handler's options as internal/route takes them.
func (h *Handler) routeConfig() *route.Config {
	rc := &route.Config{
		AllowIPs:            h.AllowIPs,
		MaxBody:             h.MaxBody,
		Tolerance:           time.Duration(h.Tolerance),
		DedupTTL:            time.Duration(h.DedupTTL),
		ClaimLease:          time.Duration(h.ClaimLease),
		ForwardTimeout:      time.Duration(h.ForwardTimeout),
		MaxAge:              time.Duration(h.MaxAge),
		Forward:             h.Forward,
		UpstreamSecrets:     h.UpstreamSecrets,
		UpstreamSecretFiles: h.UpstreamSecretFiles,
		OrderNamespace:      h.OrderNamespace,
		AuditRedact:         h.AuditRedact,
		Policies:            h.Policies,
		OrderLookup:         h.OrderLookup,
		OrderTimeout:        time.Duration(h.OrderTimeout),
	}
	if q := h.Query; q != nil {
		rc.Query = &route.Query{Enabled: q.Enabled, Endpoint: q.Endpoint, Timeout: time.Duration(q.Timeout)}
		if q.Cache != nil {
			c := time.Duration(*q.Cache)
			rc.Query.Cache = &c
		}
	}
	return rc
}

// Validate checks the options that need no provisioning.
func (h *Handler) Validate() error { return h.routeConfig().Check() }

// ServeHTTP runs the notification through the pipeline; the next handler
// sees only a verified, sanitized request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.recovery != nil && h.recovery.watch != nil {
		h.recovery.watch.Serve(w, r, clientIP(r))
		return nil
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	ip := clientIP(r)
	in := &pipeline.Incoming{
		Method:        r.Method,
		Path:          r.URL.Path,
		RawQuery:      r.URL.RawQuery,
		Header:        r.Header,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		RemoteIP:      ip,
	}
	forward := h.forwarder(w, r, next, repl)
	res := h.pipeline.Handle(r.Context(), in, forward)
	h.telemetry.NotificationDone(res)
	if repl != nil {
		repl.Set("payguard.reason", string(res.Code))
	}
	route.LogNotification(h.logger, h.pipeline.ProviderName(), res, ip)
	h.writeAudit(r.Context(), res)
	res.Response.Send(w)
	return nil
}

// forwarder hands the sanitized request to next (the proxy to the shop)
// with the pipeline's context, so that forward_timeout cancels it, and
// captures the shop's answer; a passthrough route's answer goes to w.
func (h *Handler) forwarder(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, repl *caddy.Replacer) pipeline.Forwarder {
	return func(ctx context.Context, out *pipeline.Outgoing) (pipeline.Answer, error) {
		fr := r.WithContext(ctx)
		fr.Header = out.Header
		fr.Body = io.NopCloser(bytes.NewReader(out.Body))
		fr.ContentLength = int64(len(out.Body))
		fr.Header.Set("Content-Length", strconv.Itoa(len(out.Body)))
		fr.TransferEncoding = nil
		// The sender's trailers stay behind: a shop whose server merges
		// trailers into the headers would read them beside payguard's.
		fr.Trailer = nil
		if repl != nil {
			repl.Set("payguard.provider", out.Header.Get(pipeline.HeaderProvider))
			repl.Set("payguard.event_id", out.Header.Get(pipeline.HeaderEventID))
			repl.Set("payguard.out_trade_no", out.Header.Get(pipeline.HeaderOutTradeNo))
		}
		if out.Passthrough {
			// The shop's page goes back as it is, marked like every answer.
			w.Header().Set(pipeline.HeaderReason, string(reason.Forwarded))
			rec := caddyhttp.NewResponseRecorder(w, nil, nil)
			if err := next.ServeHTTP(rec, fr); err != nil {
				return pipeline.Answer{}, err
			}
			return pipeline.Answer{Status: rec.Status()}, nil
		}
		cw := pipeline.NewCapture()
		if err := next.ServeHTTP(cw, fr); err != nil {
			return pipeline.Answer{}, err
		}
		return cw.Answer(), nil
	}
}

// writeAudit hands the pipeline's record to the app's sink.
func (h *Handler) writeAudit(ctx context.Context, res *pipeline.Result) {
	if res.Audit == nil {
		return
	}
	if err := h.app.audit.Write(ctx, res.Audit); err != nil {
		h.logger.Error("audit record not written", zap.Error(err), zap.String("reason", string(res.Code)))
	}
}

// clientIP is Caddy's own client-IP resolution, which honours the
// server's trusted_proxies; never a raw X-Forwarded-For.
func clientIP(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if s == "" {
		s = r.RemoteAddr
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().Unmap()
		}
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
