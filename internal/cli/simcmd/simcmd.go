// Package simcmd is the `payguard sim` command: keys, serve and notify, the
// command line of the provider simulator in internal/sim. caddymodule
// registers it with Caddy's command line (Name, Usage, Short, Long and
// Build); everything else is here.
package simcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/cli"
	"github.com/payguard/payguard/internal/sim"
)

// The command as Caddy's command line lists it.
const (
	Name  = "sim"
	Usage = "notify|serve|keys ..."
	Short = "Simulates payment providers: signed notifications, query APIs, test keys"
	Long  = `
The provider simulator, for local runs and tests. It signs notifications
exactly as the providers do, with sandbox keys, and serves the providers'
order-query APIs for the orders it has notified about.

  payguard sim keys --dir DIR
      Writes fresh sandbox keys and prints the matching Caddyfile lines.

  payguard sim serve [--listen 127.0.0.1:9002] [--keys examples/keys]
      Runs the sandbox: the providers' query APIs and the control API
      that 'sim notify' registers orders with. (The payguard_sim directive
      runs the same sandbox inside 'payguard run'.)

  payguard sim notify <provider> --to URL [options]
      Sends one signed notification (and --replay N identical copies) and
      prints payguard's answer to each: status, Payguard-Reason, body.

The keys are public test keys: never use them for a real merchant account,
and never expose the sandbox on a public address.

Examples (with 'payguard run' serving the repository's Caddyfile):

  # a good notification and the provider's two retries: forwarded, duplicate, duplicate
  payguard sim notify alipay --to http://127.0.0.1:8080/alipay/notify --amount 12.34 --replay 2

  # changed after signing: refused; exit status 0 because it was expected
  payguard sim notify alipay --to http://127.0.0.1:8080/alipay/notify --tamper total_amount --expect bad_signature

  # the provider's query API disagrees with the notification
  payguard sim notify wechatpay_v3 --to http://127.0.0.1:8080/wechatpay/v3/notify --amount 12.34 --query-amount 0.01 --expect query_mismatch

  # fresh keys for your own test setup, and the sandbox on its own
  payguard sim keys --dir /tmp/pg-keys
  payguard sim serve --listen 127.0.0.1:9002 --keys /tmp/pg-keys
`
)

// Command is the command for Caddy's command line.
var Command = cli.Command{Name: Name, Usage: Usage, Short: Short, Long: Long, Build: Build}

// Build adds the subcommands to cmd, the `sim` command Caddy made.
func Build(cmd *cobra.Command, g cli.Glue) {
	cmd.AddCommand(notifyCommand(g), serveCommand(g), keysCommand(g))
	cli.SetHelp(cmd)
}

// DefaultKeysDir is where --keys looks unless told: the repository's
// sandbox keys.
const DefaultKeysDir = "examples/keys"

func serveCommand(g cli.Glue) *cobra.Command {
	c := &cobra.Command{
		Use:   "serve [--listen 127.0.0.1:9002] [--keys examples/keys]",
		Short: "Runs the sandbox: the providers' query APIs and the control API",
		Long: `
Serves the simulated providers' order-query APIs (each under /<provider>/),
answering for the orders registered with it (by 'payguard sim notify', or
POST /_sim/orders), and the control API (/_sim/orders, /_sim/providers).
Every provider whose keys are in --keys is simulated.

Point payguard's 'query { endpoint ... }' at it: 'payguard sim keys' prints
the lines. Stops on SIGINT/SIGTERM.
`,
		Args: cobra.NoArgs,
		RunE: g.Wrap(runServe),
	}
	c.Flags().String("listen", "127.0.0.1:9002", "address to listen on")
	c.Flags().String("keys", DefaultKeysDir, "sandbox keys directory")
	return c
}

func runServe(cmd *cobra.Command, _ []string, fl cli.Flags) (int, error) {
	fail := func(err error) (int, error) { return cli.ExitFailed, err }
	errOut := cmd.ErrOrStderr()
	logf := func(format string, args ...any) {
		fmt.Fprintf(errOut, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	keysDir := fl.String("keys")
	srv, err := sim.Open(keysDir, nil, logf)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", fl.String("listen"))
	if err != nil {
		return fail(err)
	}
	base := "http://" + ln.Addr().String()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "payguard sim: sandbox on %s (keys %s)\n", base, keysDir)
	for _, name := range srv.Names() {
		fmt.Fprintf(out, "  %s\n", name)
	}
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(errOut, "warning: the sandbox listens on %s, not loopback: anyone who reaches it can register orders it will confirm\n", host)
		}
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return 1, err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return 1, err
	}
	fmt.Fprintln(out, "payguard sim: sandbox stopped")
	return 0, nil
}

func keysCommand(g cli.Glue) *cobra.Command {
	c := &cobra.Command{
		Use:   "keys --dir DIR [--force] [--sandbox URL] [--app-id X] [--mch-id X]",
		Short: "Writes fresh sandbox keys and prints the matching Caddyfile lines",
		Long: `
Writes fresh RSA-2048 key pairs (Alipay's and the merchant app's, WeChat
Pay's platform and merchant keys) and WeChat API keys to DIR, private keys
0600, under the names of examples/keys, and prints the Caddyfile lines for
payguard's routes and for the payguard_sim sandbox. Existing keys are left
alone unless --force is given.
`,
		Args: cobra.NoArgs,
		RunE: g.Wrap(runKeys),
	}
	c.Flags().String("dir", "", "directory to write the keys to (required)")
	c.Flags().Bool("force", false, "overwrite existing keys")
	c.Flags().String("sandbox", sim.DefaultSandboxURL, "sandbox base URL for the query endpoints")
	return c
}

func runKeys(cmd *cobra.Command, _ []string, fl cli.Flags) (int, error) {
	dir := fl.String("dir")
	if dir == "" {
		return cli.ExitFailed, errors.New("--dir is required")
	}
	snippet, err := sim.GenerateKeys(sim.KeysConfig{
		Dir:        dir,
		Overwrite:  fl.Bool("force"),
		SandboxURL: fl.String("sandbox"),
	})
	if err != nil {
		return cli.ExitFailed, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote sandbox keys to %s\n", dir)
	_, err = io.WriteString(cmd.OutOrStdout(), snippet)
	return 0, err
}
