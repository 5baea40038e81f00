// Package cli is what payguard's own commands (sim, audit, policy) share:
// how a command's run function reaches cobra, their flag readers and
// their help footer. The commands know nothing of Caddy: caddymodule
// registers them with Caddy's command line and hands them its error and
// exit-code handling (Wrap) and its placeholder replacer (Expand).
package cli

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ExitFailed is the exit status of a command that could not start (bad
// arguments, unreadable keys): Caddy's ExitCodeFailedStartup.
const ExitFailed = 1

// Run is a command's body: the exit status and the error to report.
type Run func(cmd *cobra.Command, args []string, fl Flags) (int, error)

// Glue is what the Caddy glue hands the commands.
type Glue struct {
	// Wrap makes a Run cobra's RunE, with Caddy's handling of the error
	// (logged) and the exit status.
	Wrap func(Run) func(*cobra.Command, []string) error
	// Expand resolves the {env.*} and {file.*} placeholders it knows in s
	// and leaves the others.
	Expand func(s string) string
}

// Command is one of payguard's commands as Caddy's command line lists
// it: the glue registers each with its Build.
type Command struct {
	Name, Usage, Short, Long string
	// Build adds the command's flags and its run function to cmd.
	Build func(cmd *cobra.Command, g Glue)
}

// Flags reads a command's flags by name, a flag that is not defined
// reading as its zero value (as Caddy's caddycmd.Flags does).
type Flags struct{ *pflag.FlagSet }

// String is the named string flag's value.
func (f Flags) String(name string) string {
	v, _ := f.GetString(name)
	return v
}

// Bool is the named boolean flag's value.
func (f Flags) Bool(name string) bool {
	v, _ := f.GetBool(name)
	return v
}

// Int is the named integer flag's value.
func (f Flags) Int(name string) int {
	v, _ := f.GetInt(name)
	return v
}

// ContextOf is the command's context; cobra leaves it nil when a command
// is executed without one.
func ContextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// HelpFooter replaces Caddy's footer (a link to Caddy's CLI docs) under
// payguard's own commands.
const HelpFooter = "The contract, reason codes and every option: docs/ in the payguard repository.\n"

// SetHelp gives cmd and its subcommands cobra's plain help template with
// payguard's footer instead of the root's Caddy footer.
func SetHelp(cmd *cobra.Command) {
	cmd.SetHelpTemplate((&cobra.Command{}).HelpTemplate() + "\n" + HelpFooter)
}
