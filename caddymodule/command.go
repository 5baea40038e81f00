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

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
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
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(simNotifyCommand(), simServeCommand(), simKeysCommand())
			setPayguardHelp(cmd)
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
		Use:   "notify <provider> --to <url> [--amount 0.01] [--currency CODE] [--query-amount X] [--status WORD] [--query-status WORD] [--tamper FIELD] [--expect REASON] [--replay N] [--out-trade-no X] [--app-id X] [--mch-id X] [--param K=V] [--keys DIR] [--sandbox URL]",
		Short: "Sends a notification signed like the provider's, and prints payguard's answers",
		Long: `
Builds the notification <provider> would send for an order, signed with the sandbox keys in --keys, registers
the order at the sandbox (--sandbox; "" skips it; an unreachable sandbox is
only a warning), and POSTs it to --to, 1 + --replay times with identical
bytes. One line per delivery: number, HTTP status, Payguard-Reason, body.

--amount is a decimal in the order's currency (--currency, default the
provider's: "12.34" CNY is 1234 fen). The sandbox's query API
answers --query-amount and --query-status (default: the notification's),
so the sandbox can be made to disagree with the notification.

--tamper FIELD alters FIELD after signing; the verifier must refuse it.

The exit status is 0 when every answer's Payguard-Reason is the expected
one (--expect REASON; default: forwarded or duplicate), 1 otherwise, so
the simulator can drive shell tests:

  payguard sim notify alipay --to http://127.0.0.1:8080/alipay/notify --amount 12.34
  payguard sim notify alipay --to http://127.0.0.1:8080/alipay/notify --tamper total_amount --expect bad_signature
` + tamperHelp(),
		Args: cobra.ExactArgs(1),
		RunE: wrap(cmdSimNotify),
	}
	f := c.Flags()
	f.String("to", "", "payguard's notification URL (required)")
	f.String("out-trade-no", "", "merchant order number (default: a fresh SIM... number)")
	f.String("amount", "0.01", "order amount, a decimal in the order's currency")
	f.String("currency", "", "ISO 4217 currency (default: the provider's)")
	f.String("expect", "", "the Payguard-Reason every answer must carry (default: forwarded or duplicate)")
	f.StringArray("param", nil, "provider-specific sandbox knob K=V (wechatpay_v2: sign_type=HMAC-SHA256)")
	f.String("query-amount", "", "amount the sandbox's query API answers (default: --amount)")
	f.String("status", "", "provider status word (default: TRADE_SUCCESS for alipay, SUCCESS for wechatpay)")
	f.String("query-status", "", "status the sandbox's query API answers (default: --status)")
	f.String("tamper", "", "field to alter after signing")
	f.Int("replay", 0, "send the identical notification N more times")
	f.String("keys", defaultKeysDir, "sandbox keys directory")
	f.String("app-id", "", "merchant app id (alipay app_id, wechat appid)")
	f.String("mch-id", "", "wechatpay merchant number")
	f.String("sign-type", "", "wechatpay_v2 notification sign type: MD5 (default) or HMAC-SHA256 (same as --param sign_type=...)")
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
	params, err := simParams(fl)
	if err != nil {
		return fail(err)
	}
	providers, err := sim.Load(fl.String("keys"), provider.SandboxOptions{Params: params})
	if err != nil {
		return fail(err)
	}
	p, ok := sim.Find(providers, name)
	if !ok {
		var names []string
		for _, c := range providers {
			names = append(names, c.Name())
		}
		return fail(fmt.Errorf("provider %q is not simulated with the keys in %s; simulated: %s (payguard sim keys --dir DIR writes keys for every provider)", name, fl.String("keys"), strings.Join(names, ", ")))
	}
	order, err := simOrder(fl, p)
	if err != nil {
		return fail(err)
	}
	timeout, err := fl.GetDuration("timeout")
	if err != nil || timeout <= 0 {
		return fail(errors.New("--timeout must be a positive duration"))
	}
	replay := fl.Int("replay")
	res, err := sim.Notify(cmd.Context(), p, sim.NotifyOptions{
		Order:   order,
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
	fmt.Fprintf(out, "%s order %s: amount %s %s, status %s, transaction %s, event %s (%s)\n",
		o.Provider, o.OutTradeNo, sandbox.Decimal(o.Amount, o.Currency), o.Currency, o.Status, o.TransactionID, o.EventID, where)
	if o.QueryAmount != o.Amount || o.QueryStatus != o.Status {
		fmt.Fprintf(out, "  the sandbox's query API answers: amount %s, status %s\n", sandbox.Decimal(o.QueryAmount, o.Currency), o.QueryStatus)
	}
	if t := fl.String("tamper"); t != "" {
		fmt.Fprintf(out, "  tampered after signing: %s\n", t)
	}
	failed, unexpected := 0, 0
	expect := fl.String("expect")
	for i, d := range res.Deliveries {
		fmt.Fprintln(out, formatDelivery(i+1, d))
		switch {
		case d.Err != nil:
			failed++
		case !expectedReason(d.Reason, expect):
			unexpected++
		}
	}
	if failed > 0 {
		return 1, fmt.Errorf("%d of %d deliveries failed", failed, len(res.Deliveries))
	}
	if unexpected > 0 {
		want := "forwarded or duplicate"
		if expect != "" {
			want = expect
		}
		return 1, fmt.Errorf("%d of %d answers were not %s", unexpected, len(res.Deliveries), want)
	}
	return 0, nil
}

// expectedReason: without --expect a delivery must be accepted (its
// retries duplicates); with it, every answer carries that reason.
func expectedReason(got, expect string) bool {
	if expect != "" {
		return got == expect
	}
	return got == string(reason.Forwarded) || got == string(reason.Duplicate)
}

// simParams reads --param K=V (and the older --sign-type).
func simParams(fl caddycmd.Flags) (map[string]string, error) {
	params := map[string]string{}
	if st := fl.String("sign-type"); st != "" {
		params["sign_type"] = st
	}
	list, _ := fl.GetStringArray("param")
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q is not K=V", kv)
		}
		params[k] = v
	}
	return params, nil
}

// simOrder is the order the flags describe, amounts in minor units of the
// order's currency.
func simOrder(fl caddycmd.Flags, p *sim.Provider) (sim.Order, error) {
	cur := strings.ToUpper(fl.String("currency"))
	if cur == "" {
		cur = p.Currency()
	}
	exp := notification.CurrencyExponent(cur)
	amount, err := notification.ParseDecimal(fl.String("amount"), exp)
	if err != nil {
		return sim.Order{}, fmt.Errorf("--amount %q is not a decimal with at most %d decimals for %s", fl.String("amount"), exp, cur)
	}
	o := sim.Order{
		OutTradeNo: fl.String("out-trade-no"), Amount: amount, Currency: cur,
		Status: fl.String("status"), QueryStatus: fl.String("query-status"),
		AppID: fl.String("app-id"), MchID: fl.String("mch-id"),
	}
	if qa := fl.String("query-amount"); qa != "" {
		if o.QueryAmount, err = notification.ParseDecimal(qa, exp); err != nil {
			return sim.Order{}, fmt.Errorf("--query-amount %q is not a decimal with at most %d decimals for %s", qa, exp, cur)
		}
	}
	return o, nil
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
Serves the simulated providers' order-query APIs (each under /<provider>/),
answering for the orders registered with it (by 'payguard sim notify', or
POST /_sim/orders), and the control API (/_sim/orders, /_sim/providers).
Every provider whose keys are in --keys is simulated.

Point payguard's 'query { endpoint ... }' at it: 'payguard sim keys' prints
the lines. Stops on SIGINT/SIGTERM.
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
	errOut := cmd.ErrOrStderr()
	logf := func(format string, args ...any) {
		fmt.Fprintf(errOut, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	keysDir := fl.String("keys")
	providers, err := sim.Load(keysDir, provider.SandboxOptions{Logf: logf})
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
	fmt.Fprintf(out, "payguard sim: sandbox on %s (keys %s)\n", base, keysDir)
	for _, p := range providers {
		fmt.Fprintf(out, "  %s\n", p.Name())
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
	return c
}

func cmdSimKeys(cmd *cobra.Command, _ []string, fl caddycmd.Flags) (int, error) {
	dir := fl.String("dir")
	if dir == "" {
		return caddy.ExitCodeFailedStartup, errors.New("--dir is required")
	}
	snippet, err := sim.GenerateKeys(sim.KeysConfig{
		Dir:        dir,
		Overwrite:  fl.Bool("force"),
		SandboxURL: fl.String("sandbox"),
	})
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote sandbox keys to %s\n", dir)
	_, err = io.WriteString(cmd.OutOrStdout(), snippet)
	return 0, err
}
