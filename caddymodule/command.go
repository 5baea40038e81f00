package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/cli"
	"github.com/payguard/payguard/internal/cli/auditcmd"
	"github.com/payguard/payguard/internal/cli/policycmd"
	"github.com/payguard/payguard/internal/cli/simcmd"
)

// payguard's own commands (sim, audit, policy) live in internal/cli; here
// they are registered with Caddy's command line, which gives them its
// error and exit-code handling and its placeholder replacer.
func init() {
	glue := cli.Glue{Wrap: wrap, Expand: expandKnown}
	for _, c := range []cli.Command{simcmd.Command, auditcmd.Command, policycmd.Command} {
		build := c.Build
		caddycmd.RegisterCommand(caddycmd.Command{
			Name: c.Name, Usage: c.Usage, Short: c.Short, Long: c.Long,
			CobraFunc: func(cmd *cobra.Command) { build(cmd, glue) },
		})
	}
}

// wrap runs f with Caddy's error handling (logged error, exit code) and
// gives it the positional arguments and the command, for its output
// streams, which WrapCommandFuncForCobra alone does not.
func wrap(f cli.Run) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
			return f(cmd, args, cli.Flags{FlagSet: fl.FlagSet})
		})(cmd, args)
	}
}

// expandKnown resolves the placeholders Caddy knows outside a request
// ({env.*}, {file.*}) and leaves the others.
func expandKnown(s string) string { return caddy.NewReplacer().ReplaceKnown(s, "") }
