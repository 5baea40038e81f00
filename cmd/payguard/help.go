package main

import (
	"fmt"
	"io"
	"sort"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

const longDescription = `payguard verifies payment-provider notifications before your shop sees them.

It runs as a Caddy reverse-proxy sidecar: providers (Alipay, WeChat Pay,
UnionPay, App Store, Stripe, PayPal, Ping++, any Standard Webhooks sender,
a partner's own scheme) post to payguard; payguard checks the signature,
freshness and uniqueness, asks the provider's query API whether the order
is paid and for how much, applies your CEL policies, and forwards a
sanitized notification to the shop exactly once.

payguard is Caddy with the payguard module: run, adapt, validate and
reload are Caddy's commands, configured by a Caddyfile (the one in the
current directory by default). payguard adds sim (the provider simulator),
policy (offline CEL policy tests) and audit (reading the audit trail).`

const rootExamples = `  $ payguard run                                # the Caddyfile in this directory
  $ payguard validate --config Caddyfile        # every misconfiguration, with its line
  $ payguard sim notify alipay --to http://127.0.0.1:8080/alipay/notify
  $ payguard audit find --file audit.jsonl --order 20260102-0042
  $ payguard reload --config Caddyfile --force  # after editing a key file`

// isRootHelp reports whether args ask for the root command's help:
// nothing, "help", "-h" or "--help" alone.
func isRootHelp(args []string) bool {
	if len(args) == 0 {
		return true
	}
	if len(args) != 1 {
		return false
	}
	switch args[0] {
	case "help", "-h", "--help":
		return true
	}
	return false
}

// writeRootHelp is the root help: payguard's description, its examples,
// and every registered command with its one line.
func writeRootHelp(w io.Writer, cmds map[string]caddycmd.Command) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  payguard <command> [flags]\n\nExamples:\n%s\n\n", longDescription, rootExamples)
	names := make([]string, 0, len(cmds))
	width := 0
	shorts := map[string]string{"version": "Prints the version"}
	for name, c := range cmds {
		shorts[name] = c.Short
	}
	for name := range shorts {
		names = append(names, name)
		width = max(width, len(name))
	}
	sort.Strings(names)
	payguard := map[string]bool{"sim": true, "policy": true, "audit": true}
	for _, group := range []struct {
		title string
		ours  bool
	}{{"payguard commands", true}, {"Caddy commands", false}} {
		fmt.Fprintf(w, "%s:\n", group.title)
		for _, name := range names {
			if payguard[name] == group.ours {
				fmt.Fprintf(w, "  %-*s  %s\n", width, name, shorts[name])
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, `Use "payguard help <command>" or "payguard <command> --help" for a command's help.
The contract and every option: docs/ in the payguard repository.
`)
}
