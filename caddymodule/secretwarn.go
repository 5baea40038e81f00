package caddymodule

import (
	"context"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(adminProbe{})
}

// adminConfigs holds the contexts of the configs that serve the admin API.
// Caddy provisions every admin.api module when it starts a config's admin
// endpoint, before the config's apps; adminProbe marks the config so, and
// its mark goes when the config is unloaded.
// A config's context is known by its Done channel, which every context
// Caddy derives for the config's modules shares.
var adminConfigs sync.Map // <-chan struct{} -> struct{}

// adminProbe is an admin.api module without routes: its provisioning is
// the sign that this config's admin API is on (CADDY-NOTES: whatever the
// config holds inline shows at the admin API's /config/).
type adminProbe struct{}

// CaddyModule returns the Caddy module information.
func (adminProbe) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.payguard_admin_probe",
		New: func() caddy.Module { return new(adminProbe) },
	}
}

// Provision marks ctx's config as serving the admin API.
func (*adminProbe) Provision(ctx caddy.Context) error {
	key := ctx.Done()
	adminConfigs.Store(key, struct{}{})
	ctx.OnCancel(func() { adminConfigs.Delete(key) })
	return nil
}

// Routes implements caddy.AdminRouter: none.
func (*adminProbe) Routes() []caddy.AdminRoute { return nil }

// adminAPIOn reports whether ctx's config serves the admin API.
func adminAPIOn(ctx context.Context) bool {
	_, ok := adminConfigs.Load(ctx.Done())
	return ok
}

// warnInlineSecrets logs one warning per secret option given inline while
// the admin API is on: its value shows verbatim at /config/. options are
// the options' names (never their values); the fix is the option's _file
// twin or an {env.*} / {file.*} placeholder. The provider glue and the
// handler call it with their inline secrets, the app with its URLs.
func warnInlineSecrets(ctx caddy.Context, logger *zap.Logger, where string, options []string) {
	if len(options) == 0 || !adminAPIOn(ctx.Context) {
		return
	}
	for _, opt := range options {
		logger.Warn("a secret is inline in the configuration and the admin API shows it at /config/; use its _file option or an {env.*} placeholder, or turn the admin API off",
			zap.String("in", where), zap.String("option", opt))
	}
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminProbe)(nil)
	_ caddy.Provisioner = (*adminProbe)(nil)
)
