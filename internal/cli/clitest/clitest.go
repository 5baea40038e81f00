// Package clitest runs payguard's commands in tests without Caddy: a
// plain Glue that hands back the exit status instead of exiting.
package clitest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/cli"
)

// Result is one run of a command.
type Result struct {
	Out, Err string
	// Code is the exit status the command asked for (0 on success).
	Code int
	// Error is what the command reported, nil on success.
	Error error
}

// Run builds the command named name with build and runs it on args, as
// `payguard name args...` would, placeholders left as they are.
func Run(ctx context.Context, name string, build func(*cobra.Command, cli.Glue), args ...string) Result {
	var res Result
	glue := cli.Glue{
		Wrap: func(f cli.Run) func(*cobra.Command, []string) error {
			return func(cmd *cobra.Command, args []string) error {
				res.Code, res.Error = f(cmd, args, cli.Flags{FlagSet: cmd.Flags()})
				if res.Error == nil && res.Code != 0 {
					res.Error = fmt.Errorf("exit status %d without an error", res.Code)
				}
				return res.Error
			}
		},
		Expand: func(s string) string { return s },
	}
	root := &cobra.Command{Use: name, SilenceUsage: true, SilenceErrors: true}
	build(root, glue)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil && res.Error == nil {
		res.Code, res.Error = cli.ExitFailed, err // cobra's own: unknown flag, wrong argument count
	}
	res.Out, res.Err = out.String(), errOut.String()
	return res
}

// FreePort is a loopback TCP port free a moment ago, for a command (or a
// Caddy) the test starts to listen on.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
