// Package policycmd is the `payguard policy test` command: CEL policies
// evaluated offline on recorded notifications, by internal/policy's case
// runner. caddymodule registers it with Caddy's command line.
package policycmd

import (
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/cli"
	"github.com/payguard/payguard/internal/policy"
)

// The command as Caddy's command line lists it.
const (
	Name  = "policy"
	Usage = "test <policy.cel>... --case <case.json|dir>..."
	Short = "Tests CEL policies offline on recorded notifications"
	Long  = `
Policies are the CEL expressions a route's 'policy' option names; every one
must hold for a notification to reach the shop.

  payguard policy test <policy.cel>... --case <case.json|dir>...
      Evaluates the policies on each case and prints, per case, allow or
      deny, with the policy that denied and why. A case file is the JSON
      payguard forwards with 'forward normalized', with optional "order",
      "request" ({"remote_ip","headers","path","time"}) and "expect"
      ("allow", the default, or "deny"). A folder stands for its .json files.
      Exit status: 0 when every case got its expected verdict, 1 otherwise,
      2 when a policy does not compile.

The ready policies in the repository's policies/ folder each have their
cases in the folder of the same name.
`
)

// Command is the command for Caddy's command line.
var Command = cli.Command{Name: Name, Usage: Usage, Short: Short, Long: Long, Build: Build}

// Build adds the subcommand to cmd, the `policy` command Caddy made.
func Build(cmd *cobra.Command, g cli.Glue) {
	cmd.AddCommand(testCommand(g))
	cli.SetHelp(cmd)
}

func testCommand(g cli.Glue) *cobra.Command {
	var cases []string
	c := &cobra.Command{
		Use:   "test <policy.cel>... --case <case.json|dir>...",
		Short: "Evaluates policies on recorded notifications; exit 0 when all got their expected verdict",
		Args:  cobra.MinimumNArgs(1),
		RunE: g.Wrap(func(cmd *cobra.Command, args []string, _ cli.Flags) (int, error) {
			// `--case a.json b.json` leaves b.json positional: every
			// positional that is not a .cel file is a case too.
			var policies []string
			all := append([]string(nil), cases...)
			for _, a := range args {
				if strings.HasSuffix(a, ".cel") {
					policies = append(policies, a)
				} else {
					all = append(all, a)
				}
			}
			switch code := policy.RunTests(cmd.OutOrStdout(), policies, all, time.Now()); code {
			case policy.ExitMatched:
				return code, nil
			case policy.ExitCompile:
				return code, errors.New("policy test: a policy does not compile (or no policy or case was given)")
			default:
				return code, errors.New("policy test: not every case got its expected verdict")
			}
		}),
	}
	c.Flags().StringArrayVar(&cases, "case", nil, "a case file or a folder of them (repeatable)")
	return c
}
