package simcmd

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/cli"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
	"github.com/payguard/payguard/internal/sim"
)

func notifyCommand(g cli.Glue) *cobra.Command {
	c := &cobra.Command{
		Use:   "notify <provider> --to <url> [--amount 0.01] [--currency CODE] [--query-amount X] [--status WORD] [--query-status WORD] [--tamper FIELD] [--expect REASON] [--replay N] [--out-trade-no X] [--app-id X] [--mch-id X] [--param K=V] [--keys DIR] [--sandbox URL] [--no-notify]",
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

--no-notify registers the paid order at the sandbox and sends nothing (no
--to needed): a lost notification, for lost-callback recovery to find.

The exit status is 0 when every answer's Payguard-Reason is the expected
one (--expect REASON; default: forwarded or duplicate), 1 otherwise, so
the simulator can drive shell tests:

  payguard sim notify alipay --to http://127.0.0.1:8080/alipay/notify --amount 12.34
  payguard sim notify alipay --to http://127.0.0.1:8080/alipay/notify --tamper total_amount --expect bad_signature
` + tamperHelp(),
		Args: cobra.ExactArgs(1),
		RunE: g.Wrap(runNotify),
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
	f.String("keys", DefaultKeysDir, "sandbox keys directory")
	f.String("app-id", "", "merchant app id (alipay app_id, wechat appid)")
	f.String("mch-id", "", "wechatpay merchant number")
	f.String("sign-type", "", "wechatpay_v2 notification sign type: MD5 (default) or HMAC-SHA256 (same as --param sign_type=...)")
	f.String("sandbox", sim.DefaultSandboxURL, `sandbox base URL to register the order with ("" to skip)`)
	f.Duration("timeout", 10*time.Second, "timeout of each HTTP request")
	f.Bool("no-notify", false, "register the order at the sandbox only; send no notification (a lost callback)")
	return c
}

func runNotify(cmd *cobra.Command, args []string, fl cli.Flags) (int, error) {
	fail := func(err error) (int, error) { return cli.ExitFailed, err }
	name := args[0]
	to, noNotify := fl.String("to"), fl.Bool("no-notify")
	if to == "" && !noNotify {
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
	res, err := sim.Notify(cmd.Context(), p, sim.NotifyOptions{
		Order:    order,
		To:       to,
		Sandbox:  fl.String("sandbox"),
		Tamper:   fl.String("tamper"),
		Replay:   fl.Int("replay"),
		NoNotify: noNotify,
		Client:   sim.NewClient(timeout),
	})
	if err != nil {
		return fail(err)
	}
	printOrder(cmd.OutOrStdout(), cmd.ErrOrStderr(), res, fl.String("sandbox"), fl.String("tamper"))
	if noNotify {
		fmt.Fprintln(cmd.OutOrStdout(), "  no notification sent (--no-notify): only the sandbox's query API knows it is paid")
		return 0, nil
	}
	return report(cmd.OutOrStdout(), res.Deliveries, fl.String("expect"))
}

// printOrder describes the order notified about, and where it was
// registered.
func printOrder(out, errOut io.Writer, res *sim.NotifyResult, sandboxURL, tamper string) {
	o := res.Order
	where := "not registered: --sandbox \"\""
	switch {
	case res.Registered:
		where = "registered at " + sandboxURL
	case res.SandboxErr != nil:
		where = "NOT registered"
		fmt.Fprintf(errOut, "warning: %v; payguard's query will not find this order\n", res.SandboxErr)
	}
	fmt.Fprintf(out, "%s order %s: amount %s %s, status %s, transaction %s, event %s (%s)\n",
		o.Provider, o.OutTradeNo, sandbox.Decimal(o.Amount, o.Currency), o.Currency, o.Status, o.TransactionID, o.EventID, where)
	if o.QueryAmount != o.Amount || o.QueryStatus != o.Status {
		fmt.Fprintf(out, "  the sandbox's query API answers: amount %s, status %s\n", sandbox.Decimal(o.QueryAmount, o.Currency), o.QueryStatus)
	}
	if tamper != "" {
		fmt.Fprintf(out, "  tampered after signing: %s\n", tamper)
	}
}

// report prints one line per delivery; the exit status is 1 when one
// failed or was not answered as expected.
func report(out io.Writer, deliveries []sim.Delivery, expect string) (int, error) {
	failed, unexpected := 0, 0
	for i, d := range deliveries {
		fmt.Fprintln(out, formatDelivery(i+1, d))
		switch {
		case d.Err != nil:
			failed++
		case !expectedReason(d.Reason, expect):
			unexpected++
		}
	}
	if failed > 0 {
		return 1, fmt.Errorf("%d of %d deliveries failed", failed, len(deliveries))
	}
	if unexpected > 0 {
		want := "forwarded or duplicate"
		if expect != "" {
			want = expect
		}
		return 1, fmt.Errorf("%d of %d answers were not %s", unexpected, len(deliveries), want)
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
func simParams(fl cli.Flags) (map[string]string, error) {
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
func simOrder(fl cli.Flags, p *sim.Provider) (sim.Order, error) {
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
