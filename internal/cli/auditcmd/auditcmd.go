// Package auditcmd is the `payguard audit tail|find` command: the audit
// trail read back, from the file (and its rotated siblings) or the Redis
// stream. The reading is internal/audit's; this package maps flags onto
// it. caddymodule registers it with Caddy's command line.
package auditcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/cli"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// The command as Caddy's command line lists it.
const (
	Name  = "audit"
	Usage = "tail|find (--file PATH | --redis URL [--stream NAME]) ..."
	Short = "Reads the audit trail: what payguard decided about each notification, and why"
	Long  = `
Reads the audit records payguard wrote, from either sink: the JSON-lines
file of 'audit file PATH' (with its rotated siblings: PATH.1, PATH.2.gz,
PATH-20260102, ...) or the Redis stream of 'audit redis_stream NAME'.
Records print as a table (time, provider, outcome, reason, order,
transaction, amount, event), or with --json as the JSON records, one per line.

  payguard audit find --file PATH --order X | --event Y | --transaction Z
      Every record of that order, event or transaction, oldest first.
      Exit status 1 when none matches.

  payguard audit tail --file PATH [-n 20] [--follow] [--provider P] [--outcome O] [--reason R]
      The last records that pass the filters; with --follow, then every
      new one as it is written, until interrupted.

Examples:

  # did order 20260102-0042's notification arrive, and what was decided?
  payguard audit find --file /var/log/payguard/audit.jsonl --order 20260102-0042

  # the same from the Redis stream, as JSON
  payguard audit find --redis redis://127.0.0.1:6379/0 --stream payguard:audit --event evt_1 --json

  # watch refusals of one provider as they happen
  payguard audit tail --file /var/log/payguard/audit.jsonl --follow --provider alipay --outcome rejected

  # the last 50 bad signatures
  payguard audit tail --redis {env.REDIS_URL} --reason bad_signature -n 50
`
)

// Command is the command for Caddy's command line.
var Command = cli.Command{Name: Name, Usage: Usage, Short: Short, Long: Long, Build: Build}

// Build adds the subcommands to cmd, the `audit` command Caddy made.
func Build(cmd *cobra.Command, g cli.Glue) {
	cmd.AddCommand(findCommand(g), tailCommand(g))
	cli.SetHelp(cmd)
}

func sourceFlags(c *cobra.Command) {
	f := c.Flags()
	f.String("file", "", "the audit file (audit file PATH)")
	f.String("redis", "", "Redis URL of the audit stream (redis:// or rediss://; {env.NAME} placeholders work)")
	f.String("stream", "payguard:audit", "the audit stream's name (audit redis_stream NAME)")
	f.String("provider", "", "only records of this provider")
	f.String("outcome", "", "only records with this outcome: forwarded, rejected, duplicate, failed")
	f.String("reason", "", "only records with this reason code")
	f.Bool("json", false, "print the records as JSON lines instead of a table")
}

func findCommand(g cli.Glue) *cobra.Command {
	c := &cobra.Command{
		Use:   "find (--file PATH | --redis URL) (--order X | --event Y | --transaction Z) [--provider P] [--outcome O] [--reason R] [--json]",
		Short: "Prints every audit record of one order, event or transaction",
		Long: `
Prints every audit record of one order (--order, the merchant's
out_trade_no), event (--event, the provider's event id) or transaction
(--transaction, the provider's transaction id), oldest first, from the
file and its rotated siblings or from the Redis stream. Exit status 0
when a record matched, 1 when none did, 2 on a usage or read error.

  payguard audit find --file /var/log/payguard/audit.jsonl --order 20260102-0042
  payguard audit find --redis redis://127.0.0.1:6379/0 --transaction 2026010222001 --json
`,
		Args: cobra.NoArgs,
		RunE: g.Wrap(func(cmd *cobra.Command, _ []string, fl cli.Flags) (int, error) {
			return runFind(cmd, fl, g.Expand)
		}),
	}
	sourceFlags(c)
	c.Flags().String("order", "", "the merchant's order number (out_trade_no)")
	c.Flags().String("event", "", "the provider's event id")
	c.Flags().String("transaction", "", "the provider's transaction id")
	return c
}

func tailCommand(g cli.Glue) *cobra.Command {
	c := &cobra.Command{
		Use:   "tail (--file PATH | --redis URL) [-n 20] [--follow] [--provider P] [--outcome O] [--reason R] [--json]",
		Short: "Prints the last audit records, and follows new ones",
		Long: `
Prints the last -n audit records (default 20) that pass the filters and,
with --follow (-f), every new one as it is written (across a rotation of
the file) until interrupted.

  payguard audit tail --file /var/log/payguard/audit.jsonl -f --outcome failed
  payguard audit tail --redis redis://127.0.0.1:6379/0 --provider wechatpay_v3 --reason query_mismatch
`,
		Args: cobra.NoArgs,
		RunE: g.Wrap(func(cmd *cobra.Command, _ []string, fl cli.Flags) (int, error) {
			return runTail(cmd, fl, g.Expand)
		}),
	}
	sourceFlags(c)
	c.Flags().IntP("lines", "n", 20, "how many of the last matching records to print")
	c.Flags().BoolP("follow", "f", false, "keep printing new records as they are written")
	return c
}

// reader is what both sources offer.
type reader interface {
	Scan(ctx context.Context, f audit.Filter, visit audit.Visit) error
	Tail(ctx context.Context, f audit.Filter, n int, follow bool, visit audit.Visit) error
}

// usageErr is a usage error: exit status 2, as for a read error.
func usageErr(format string, args ...any) (int, error) {
	return 2, fmt.Errorf(format, args...)
}

func openReader(fl cli.Flags, expand func(string) string) (reader, func(), error) {
	file, rawURL := fl.String("file"), fl.String("redis")
	switch {
	case file != "" && rawURL != "":
		return nil, nil, errors.New("give --file or --redis, not both")
	case file != "":
		return &audit.FileReader{Path: file}, func() {}, nil
	case rawURL != "":
		rawURL = expand(rawURL)
		opts, err := store.ParseRedisURL(rawURL, nil, "")
		if err != nil {
			return nil, nil, err
		}
		client := redis.NewUniversalClient(opts)
		return &audit.StreamReader{Client: client, Stream: fl.String("stream")}, func() { client.Close() }, nil
	}
	return nil, nil, errors.New("give the audit sink: --file PATH (audit file) or --redis URL (audit redis_stream)")
}

func filterOf(fl cli.Flags) (audit.Filter, error) {
	f := audit.Filter{
		Provider: fl.String("provider"),
		Outcome:  audit.Outcome(fl.String("outcome")),
		Reason:   reason.Code(fl.String("reason")),
	}
	switch f.Outcome {
	case "", audit.Forwarded, audit.Rejected, audit.Duplicate, audit.Failed, "recovered", "unconfirmed":
	default:
		return f, fmt.Errorf("--outcome %q: want forwarded, rejected, duplicate, failed, recovered or unconfirmed", f.Outcome)
	}
	if f.Reason != "" && reason.HTTPStatus(f.Reason) == 500 {
		return f, fmt.Errorf("--reason %q is not a reason code (see docs/reasons.md)", f.Reason)
	}
	return f, nil
}

func runFind(cmd *cobra.Command, fl cli.Flags, expand func(string) string) (int, error) {
	f, err := filterOf(fl)
	if err != nil {
		return usageErr("%v", err)
	}
	f.OutTradeNo, f.EventID, f.Transaction = fl.String("order"), fl.String("event"), fl.String("transaction")
	if f.OutTradeNo == "" && f.EventID == "" && f.Transaction == "" {
		return usageErr("find needs --order, --event or --transaction (payguard audit tail lists the latest records)")
	}
	src, closeSrc, err := openReader(fl, expand)
	if err != nil {
		return usageErr("%v", err)
	}
	defer closeSrc()
	p := &audit.Printer{W: cmd.OutOrStdout(), JSON: fl.Bool("json")}
	found := 0
	err = src.Scan(cli.ContextOf(cmd), f, func(r *audit.Record) error {
		found++
		return p.Print(r)
	})
	if err != nil {
		return 2, err
	}
	if found == 0 {
		return 1, errors.New("no audit record matches")
	}
	return 0, nil
}

func runTail(cmd *cobra.Command, fl cli.Flags, expand func(string) string) (int, error) {
	f, err := filterOf(fl)
	if err != nil {
		return usageErr("%v", err)
	}
	n, err := fl.GetInt("lines")
	if err != nil || n < 0 {
		return usageErr("-n must be a number of records, 0 or more")
	}
	follow, _ := fl.GetBool("follow")
	src, closeSrc, err := openReader(fl, expand)
	if err != nil {
		return usageErr("%v", err)
	}
	defer closeSrc()
	ctx, stop := signal.NotifyContext(cli.ContextOf(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &audit.Printer{W: cmd.OutOrStdout(), JSON: fl.Bool("json")}
	if err := src.Tail(ctx, f, n, follow, p.Print); err != nil {
		return 2, err
	}
	return 0, nil
}
