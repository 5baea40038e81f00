package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/sim"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "sim",
		Usage: "notify|serve|keys ...",
		Short: "Simulates payment providers: signed notifications, query APIs, test keys",
		Long: `
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
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(simNotifyCommand(), simServeCommand(), simKeysCommand())
		},
	})
}

// wrap runs f with Caddy's error handling (logged error, exit code) and
// gives it the positional arguments and the command, for its output
// streams, which WrapCommandFuncForCobra alone does not.
func wrap(f func(cmd *cobra.Command, args []string, fl caddycmd.Flags) (int, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
			return f(cmd, args, fl)
		})(cmd, args)
	}
}

const defaultKeysDir = "examples/keys"

func simNotifyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "notify <provider> --to <url> [--amount 0.01] [--query-amount X] [--status WORD] [--query-status WORD] [--tamper FIELD] [--replay N] [--out-trade-no X] [--app-id X] [--mch-id X] [--keys DIR] [--sandbox URL]",
		Short: "Sends a notification signed like the provider's, and prints payguard's answers",
		Long: `
Builds the notification <provider> (alipay, wechatpay_v3, wechatpay_v2)
would send for an order, signed with the sandbox keys in --keys, registers
the order at the sandbox (--sandbox; "" skips it; an unreachable sandbox is
only a warning), and POSTs it to --to, 1 + --replay times with identical
bytes. One line per delivery: number, HTTP status, Payguard-Reason, body.

--amount is in yuan ("12.34") for every provider. The sandbox's query API
answers --query-amount and --query-status (default: the notification's),
so the sandbox can be made to disagree with the notification.

--tamper FIELD alters FIELD after signing; the verifier must refuse it.
` + tamperHelp(),
		Args: cobra.ExactArgs(1),
		RunE: wrap(cmdSimNotify),
	}
	f := c.Flags()
	f.String("to", "", "payguard's notification URL (required)")
	f.String("out-trade-no", "", "merchant order number (default: a fresh SIM... number)")
	f.String("amount", "0.01", "order amount in yuan")
	f.String("query-amount", "", "amount the sandbox's query API answers (default: --amount)")
	f.String("status", "", "provider status word (default: TRADE_SUCCESS for alipay, SUCCESS for wechatpay)")
	f.String("query-status", "", "status the sandbox's query API answers (default: --status)")
	f.String("tamper", "", "field to alter after signing")
	f.Int("replay", 0, "send the identical notification N more times")
	f.String("keys", defaultKeysDir, "sandbox keys directory")
	f.String("app-id", "", "merchant app id (alipay app_id, wechat appid)")
	f.String("mch-id", "", "wechatpay merchant number")
	f.String("sign-type", "", "wechatpay_v2 notification sign type: MD5 (default) or HMAC-SHA256")
	f.String("sandbox", sim.DefaultSandboxURL, `sandbox base URL to register the order with ("" to skip)`)
	f.Duration("timeout", 10*time.Second, "timeout of each HTTP request")
	return c
}

func cmdSimNotify(cmd *cobra.Command, args []string, fl caddycmd.Flags) (int, error) {
	fail := func(err error) (int, error) { return caddy.ExitCodeFailedStartup, err }
	name := args[0]
	to := fl.String("to")
	if to == "" {
		return fail(errors.New("--to is required: payguard's notification URL"))
	}
	keys, err := sim.LoadKeys(fl.String("keys"))
	if err != nil {
		return fail(fmt.Errorf("%v (write a set with: payguard sim keys --dir DIR)", err))
	}
	providers, err := sim.Providers(keys, fl.String("sign-type"), nil)
	if err != nil {
		return fail(err)
	}
	var p sim.Provider
	var names []string
	for _, c := range providers {
		names = append(names, c.Name())
		if c.Name() == name {
			p = c
		}
	}
	if p == nil {
		if keys.WeChat == nil && strings.HasPrefix(name, "wechatpay") {
			return fail(fmt.Errorf("%s: %s has no WeChat Pay keys (payguard sim keys --dir DIR writes them)", name, keys.Dir))
		}
		return fail(fmt.Errorf("unknown provider %q; simulated: %s", name, strings.Join(names, ", ")))
	}
	timeout, err := fl.GetDuration("timeout")
	if err != nil || timeout <= 0 {
		return fail(errors.New("--timeout must be a positive duration"))
	}
	replay := fl.Int("replay")
	res, err := sim.Notify(cmd.Context(), p, sim.NotifyOptions{
		Order: sim.Order{
			OutTradeNo:  fl.String("out-trade-no"),
			Amount:      fl.String("amount"),
			QueryAmount: fl.String("query-amount"),
			Status:      fl.String("status"),
			QueryStatus: fl.String("query-status"),
			AppID:       fl.String("app-id"),
			MchID:       fl.String("mch-id"),
		},
		To:      to,
		Sandbox: fl.String("sandbox"),
		Tamper:  fl.String("tamper"),
		Replay:  replay,
		Client: &http.Client{
			Timeout:       timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	})
	if err != nil {
		return fail(err)
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	o := res.Order
	where := "not registered: --sandbox \"\""
	switch {
	case res.Registered:
		where = "registered at " + fl.String("sandbox")
	case res.SandboxErr != nil:
		where = "NOT registered"
		fmt.Fprintf(errOut, "warning: %v; payguard's query will not find this order\n", res.SandboxErr)
	}
	fmt.Fprintf(out, "%s order %s: amount %s, status %s, transaction %s, event %s (%s)\n",
		o.Provider, o.OutTradeNo, o.Amount, o.Status, o.TransactionID, o.EventID, where)
	if o.QueryAmount != o.Amount || o.QueryStatus != o.Status {
		fmt.Fprintf(out, "  the sandbox's query API answers: amount %s, status %s\n", o.QueryAmount, o.QueryStatus)
	}
	if t := fl.String("tamper"); t != "" {
		fmt.Fprintf(out, "  tampered after signing: %s\n", t)
	}
	failed := 0
	for i, d := range res.Deliveries {
		fmt.Fprintln(out, formatDelivery(i+1, d))
		if d.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return 1, fmt.Errorf("%d of %d deliveries failed", failed, len(res.Deliveries))
	}
	return 0, nil
}

// tamperHelp lists the --tamper fields per provider.
func tamperHelp() string {
	fields := sim.TamperFields()
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Fields:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-13s %s\n", n, strings.Join(fields[n], " "))
	}
	return b.String()
}

// formatDelivery is one line: number, status, Payguard-Reason, and the
// body quoted (so a body with newlines stays on the line) and cut short.
func formatDelivery(n int, d sim.Delivery) string {
	if d.Err != nil {
		return fmt.Sprintf("%d: error: %v", n, d.Err)
	}
	r := d.Reason
	if r == "" {
		r = "-"
	}
	body := d.Body
	const max = 300
	cut := ""
	if len(body) > max {
		body, cut = body[:max], "..."
	}
	return fmt.Sprintf("%d: %d %s %s%s", n, d.Status, r, strconv.Quote(string(body)), cut)
}

func simServeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "serve [--listen 127.0.0.1:9002] [--keys examples/keys]",
		Short: "Runs the sandbox: the providers' query APIs and the control API",
		Long: `
Serves the simulated providers' order-query APIs, answering for the orders
registered with it (by 'payguard sim notify', or POST /_sim/orders):

  /alipay/gateway.do                                alipay.trade.query
  /wechatpay/v3/pay/transactions/out-trade-no/{no}  WeChat Pay v3 (with WeChat keys)
  /wechatpay/v2/pay/orderquery                      WeChat Pay v2 (with WeChat keys)
  /_sim/orders, /_sim/providers                     control API

Point payguard's 'query { endpoint ... }' at it. Stops on SIGINT/SIGTERM.
`,
		Args: cobra.NoArgs,
		RunE: wrap(cmdSimServe),
	}
	c.Flags().String("listen", "127.0.0.1:9002", "address to listen on")
	c.Flags().String("keys", defaultKeysDir, "sandbox keys directory")
	return c
}

func cmdSimServe(cmd *cobra.Command, _ []string, fl caddycmd.Flags) (int, error) {
	fail := func(err error) (int, error) { return caddy.ExitCodeFailedStartup, err }
	keys, err := sim.LoadKeys(fl.String("keys"))
	if err != nil {
		return fail(err)
	}
	errOut := cmd.ErrOrStderr()
	logf := func(format string, args ...any) {
		fmt.Fprintf(errOut, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	providers, err := sim.Providers(keys, "", logf)
	if err != nil {
		return fail(err)
	}
	srv, err := sim.NewServer(sim.ServerConfig{Providers: providers, Logf: logf})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", fl.String("listen"))
	if err != nil {
		return fail(err)
	}
	base := "http://" + ln.Addr().String()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "payguard sim: sandbox on %s (keys %s)\n", base, keys.Dir)
	for _, p := range providers {
		fmt.Fprintf(out, "  %-13s query endpoint %s\n", p.Name(), p.Endpoint(base))
	}
	if keys.WeChat == nil {
		fmt.Fprintf(out, "  (no WeChat Pay keys in %s: wechatpay_v3/v2 off)\n", keys.Dir)
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

func simKeysCommand() *cobra.Command {
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
		RunE: wrap(cmdSimKeys),
	}
	c.Flags().String("dir", "", "directory to write the keys to (required)")
	c.Flags().Bool("force", false, "overwrite existing keys")
	c.Flags().String("sandbox", sim.DefaultSandboxURL, "sandbox base URL for the query endpoints")
	c.Flags().String("app-id", "", "alipay app_id in the printed lines (default "+sim.DefaultAlipayAppID+")")
	c.Flags().String("mch-id", "", "wechatpay mch_id in the printed lines (default "+sim.DefaultWeChatMchID+")")
	return c
}

func cmdSimKeys(cmd *cobra.Command, _ []string, fl caddycmd.Flags) (int, error) {
	dir := fl.String("dir")
	if dir == "" {
		return caddy.ExitCodeFailedStartup, errors.New("--dir is required")
	}
	snippet, err := sim.GenerateKeys(sim.KeysConfig{
		Dir:         dir,
		Overwrite:   fl.Bool("force"),
		SandboxURL:  fl.String("sandbox"),
		AlipayAppID: fl.String("app-id"),
		WeChatMchID: fl.String("mch-id"),
	})
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote sandbox keys to %s\n", dir)
	_, err = io.WriteString(cmd.OutOrStdout(), snippet)
	return 0, err
}
