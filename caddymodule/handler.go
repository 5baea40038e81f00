package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/stdwebhook"
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
	telemetry *telemetry
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
	if pm.watchOpts.watch {
		if t := pm.watchOpts.token; t != "" && !provider.HasPlaceholder(t) {
			warnInlineSecrets(ctx, h.logger, "payguard "+pm.spec.Name, []string{"watch_token"})
		}
		return h.provisionWatch()
	}

	if err := h.Validate(); err != nil {
		return err
	}
	name := pm.spec.Name

	prov, querier, queryCache, err := h.buildProvider(name)
	if err != nil {
		return err
	}

	allow, err := parseAllowIPs(h.AllowIPs)
	if err != nil {
		return fmt.Errorf("payguard %s: %v", name, err)
	}
	secrets, err := h.upstreamSecrets()
	if err != nil {
		return fmt.Errorf("payguard %s: %v", name, err)
	}
	mode := pipeline.ForwardOriginal
	if h.Forward == "normalized" {
		mode = pipeline.ForwardNormalized
	}
	// Metrics go to this config's registry (the admin endpoint's
	// /metrics); spans under the request's span (Caddy's tracing).
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("payguard %s: registering metrics: %v", name, err)
	}
	h.telemetry = newTelemetry(prov.Name())
	orderQuerier := querier
	querier = h.telemetry.timeQueries(querier)
	policies, lookup, err := h.policyStages()
	if err != nil {
		return fmt.Errorf("payguard %s: %v", name, err)
	}
	h.pipeline, err = pipeline.New(pipeline.Config{
		Policies:        policies,
		OrderLookup:     lookup,
		Provider:        prov,
		Store:           h.app.store,
		Querier:         querier,
		QueryCache:      queryCache,
		AllowIPs:        allow,
		MaxBody:         h.MaxBody,
		Tolerance:       time.Duration(h.Tolerance),
		DedupTTL:        time.Duration(h.DedupTTL),
		ClaimLease:      time.Duration(h.ClaimLease),
		ForwardTimeout:  time.Duration(h.ForwardTimeout),
		MaxAge:          time.Duration(h.MaxAge),
		Forward:         mode,
		UpstreamSecrets: secrets,
		OrderNamespace:  h.OrderNamespace,
		Observer:        h.telemetry,
		AuditRedact:     h.AuditRedact,
		SkipAudit:       h.app.audit == nil || h.app.audit == audit.Discard,
		Hook:            h.recoveryHook(prov.Traits()),
	})
	if err != nil {
		return err
	}
	h.warnAtStart(name)
	warnInlineSecrets(ctx, h.logger, "payguard "+name, append(pm.inlineSecrets(), h.inlineUpstreamSecrets()...))
	return h.provisionRecovery(ctx, orderQuerier, secrets)
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

// warnAtStart tells the operator about settings that work but weaken what
// payguard guarantees.
func (h *Handler) warnAtStart(name string) {
	if len(h.AllowIPs) == 0 {
		h.logger.Warn("allow_ips is empty: notifications are accepted from any source address", zap.String("provider", name))
	}
	if h.pipeline.MaxAge() > h.pipeline.DedupTTL() {
		h.logger.Warn("max_age is longer than dedup_ttl: a notification replayed after its event was forgotten is delivered again",
			zap.String("provider", name), zap.Duration("max_age", h.pipeline.MaxAge()), zap.Duration("dedup_ttl", h.pipeline.DedupTTL()))
	}
}

// buildProvider builds the provider with the handler's settings, and its
// querier unless the query is off; it returns the query cache duration.
func (h *Handler) buildProvider(name string) (provider.Provider, provider.Querier, time.Duration, error) {
	set := provider.Settings{
		Tolerance: time.Duration(h.Tolerance),
		MaxAge:    time.Duration(h.MaxAge),
		Warn:      func(msg string) { h.logger.Warn(msg, zap.String("provider", name)) },
	}
	if set.Tolerance <= 0 {
		set.Tolerance = pipeline.DefaultTolerance
	}
	if h.Query != nil {
		set.QueryEndpoint = h.Query.Endpoint
		set.QueryTimeout = time.Duration(h.Query.Timeout)
	}
	built, err := h.provider.build(set)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("payguard %s: %v", name, err)
	}
	querier := built.Querier
	queryCache := pipeline.DefaultQueryCache
	if h.Query != nil {
		if h.Query.Enabled != nil && !*h.Query.Enabled {
			querier = nil
		} else if h.Query.Enabled != nil && *h.Query.Enabled && querier == nil {
			return nil, nil, 0, fmt.Errorf("payguard %s: query on, but no query credentials are configured", name)
		}
		if h.Query.Cache != nil {
			queryCache = time.Duration(*h.Query.Cache)
		}
	}
	return built.Provider, querier, queryCache, nil
}

// upstreamSecrets resolves upstream_secret (placeholders) and reads
// upstream_secret_file, one secret per file, into keys held in memory only.
func (h *Handler) upstreamSecrets() ([][]byte, error) {
	var keys [][]byte
	repl := caddy.NewReplacer()
	add := func(opt string, i int, v string) error {
		key, err := stdwebhook.ParseSecret(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s %d: %v", opt, i+1, err)
		}
		keys = append(keys, key)
		return nil
	}
	for i, s := range h.UpstreamSecrets {
		v, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return nil, fmt.Errorf("upstream_secret %d: %v", i+1, err)
		}
		if err := add("upstream_secret", i, v); err != nil {
			return nil, err
		}
	}
	for i, path := range h.UpstreamSecretFiles {
		p, err := repl.ReplaceOrErr(path, true, true)
		if err != nil {
			return nil, fmt.Errorf("upstream_secret_file %d: %v", i+1, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("upstream_secret_file %d: cannot read %s: %v", i+1, p, errors.Unwrap(err))
		}
		err = add("upstream_secret_file", i, string(b))
		clear(b)
		if err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Validate checks the options that need no provisioning.
func (h *Handler) Validate() error {
	switch h.Forward {
	case "", "original", "normalized":
	default:
		return fmt.Errorf("payguard: forward must be original or normalized, not %q", h.Forward)
	}
	if h.MaxBody < 0 {
		return fmt.Errorf("payguard: max_body must be positive")
	}
	if _, err := parseAllowIPs(h.AllowIPs); err != nil {
		return fmt.Errorf("payguard: %v", err)
	}
	return nil
}

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
	h.telemetry.notificationDone(res)
	if repl != nil {
		repl.Set("payguard.reason", string(res.Code))
	}
	h.log(res, ip)
	h.writeAudit(r.Context(), res)
	if res.Response.Written {
		return nil
	}
	for k, v := range res.Response.Header {
		w.Header()[k] = v
	}
	if len(res.Response.Body) > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(res.Response.Body)))
	}
	w.WriteHeader(res.Response.Status)
	_, _ = w.Write(res.Response.Body)
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
		cw := &captureWriter{header: http.Header{}}
		if err := next.ServeHTTP(cw, fr); err != nil {
			return pipeline.Answer{}, err
		}
		return cw.answer(), nil
	}
}

// log writes one line per notification with typed fields; never a body, a
// signature or a key.
func (h *Handler) log(res *pipeline.Result, ip netip.Addr) {
	level := zapcore.InfoLevel
	if res.Outcome == pipeline.OutcomeRejected || res.Outcome == pipeline.OutcomeFailed {
		level = zapcore.WarnLevel
	}
	ce := h.logger.Check(level, "payment notification")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("provider", h.pipeline.ProviderName()),
		zap.String("outcome", string(res.Outcome)),
		zap.String("reason", string(res.Code)),
		zap.String("remote_ip", ip.String()),
		zap.Duration("duration", res.Duration),
	}
	if n := res.Notification; n != nil {
		fields = append(fields,
			zap.String("event_id", n.EventID),
			zap.String("out_trade_no", n.OutTradeNo),
			zap.String("transaction_id", n.TransactionID),
			zap.Int64("amount", n.Amount),
			zap.String("currency", n.Currency),
			zap.String("status", string(n.Status)))
	}
	if res.DuplicateOf != "" {
		fields = append(fields, zap.String("duplicate_of", res.DuplicateOf))
	}
	if res.Err != nil {
		fields = append(fields, zap.String("detail", res.Err.Error()))
	}
	ce.Write(fields...)
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

func parseAllowIPs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("allow_ips: %q is not an IP or CIDR", s)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("allow_ips: %q is not an IP or CIDR", s)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// captureWriter takes the shop's answer so payguard can decide the
// provider's acknowledgement from it: the status, the headers and the
// first pipeline.MaxAnswerBody bytes of the body. The shop's body never
// reaches the provider.
type captureWriter struct {
	header http.Header
	code   int
	body   []byte
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if room := pipeline.MaxAnswerBody - len(c.body); room > 0 {
		c.body = append(c.body, b[:min(room, len(b))]...)
	}
	return len(b), nil
}
func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 || c.code < 200 {
		c.code = code
	}
}
func (c *captureWriter) answer() pipeline.Answer {
	a := pipeline.Answer{Status: c.code, Header: c.header, Body: c.body}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	return a
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
