package route

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/payguard/payguard/internal/pipeline"
)

// LogNotification writes one line per notification with typed fields,
// at warn for a rejection or failure; never a body, a signature or a key.
func LogNotification(logger *zap.Logger, providerName string, res *pipeline.Result, ip netip.Addr) {
	level := zapcore.InfoLevel
	if res.Outcome == pipeline.OutcomeRejected || res.Outcome == pipeline.OutcomeFailed {
		level = zapcore.WarnLevel
	}
	ce := logger.Check(level, "payment notification")
	if ce == nil {
		return
	}
	// Room for every field below: one slice, never regrown.
	fields := make([]zap.Field, 0, 13)
	fields = append(fields,
		zap.String("provider", providerName),
		zap.String("outcome", string(res.Outcome)),
		zap.String("reason", string(res.Code)),
		zap.String("remote_ip", ip.String()),
		zap.Duration("duration", res.Duration))
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

// WarnAtStart tells the operator about a route's settings that work but
// weaken what payguard guarantees: any source address accepted (no
// allow_ips), or events kept fresh longer than they are remembered
// (max_age over dedup_ttl: a late replay is delivered again). maxAge and
// dedupTTL are the pipeline's, defaults applied.
func WarnAtStart(logger *zap.Logger, providerName string, allowIPs []string, maxAge, dedupTTL time.Duration) {
	if len(allowIPs) == 0 {
		logger.Warn("allow_ips is empty: notifications are accepted from any source address", zap.String("provider", providerName))
	}
	if maxAge > dedupTTL {
		logger.Warn("max_age is longer than dedup_ttl: a notification replayed after its event was forgotten is delivered again",
			zap.String("provider", providerName), zap.Duration("max_age", maxAge), zap.Duration("dedup_ttl", dedupTTL))
	}
}

// WarnInlineSecrets logs one warning per secret option given inline, for
// a host whose config shows verbatim (Caddy's admin API at /config/).
// options are the options' names, never their values; the fix is the
// option's _file twin or an {env.*} / {file.*} placeholder.
func WarnInlineSecrets(logger *zap.Logger, where string, options []string) {
	for _, opt := range options {
		logger.Warn("a secret is inline in the configuration and the admin API shows it at /config/; use its _file option or an {env.*} placeholder, or turn the admin API off",
			zap.String("in", where), zap.String("option", opt))
	}
}
