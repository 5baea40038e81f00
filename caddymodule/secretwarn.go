package caddymodule

import (
	"context"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/route"
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

// warnInlineSecrets warns about the secret options given inline
// (route.WarnInlineSecrets) while the admin API is on: only then does
// their value show at /config/. The provider glue and the handler call it
// with their inline secrets, the app with its URLs.
func warnInlineSecrets(ctx caddy.Context, logger *zap.Logger, where string, options []string) {
	if adminAPIOn(ctx.Context) {
		route.WarnInlineSecrets(logger, where, options)
	}
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminProbe)(nil)
	_ caddy.Provisioner = (*adminProbe)(nil)
)
