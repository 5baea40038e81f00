// Command payguard is Caddy with the standard modules and the payguard
// module linked in: `payguard run`, `adapt`, `validate` and `reload` are
// Caddy's own; payguard adds its `sim`, `policy` and `audit` subcommands.
package main

import (
	"os"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// the standard Caddy modules
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// payguard, and the example shop of the local stack
	_ "github.com/payguard/payguard/caddymodule"
	_ "github.com/payguard/payguard/examples/shop"
)

func init() {
	// Caddy's hooks for a custom build: the root command's name (every
	// "Usage: payguard ..." line) and its long description.
	caddy.CustomBinaryName = "payguard"
	caddy.CustomLongDescription = longDescription
}

func main() {
	// Caddy's root help ends in its own examples ("caddy run") and a link
	// to Caddy's CLI docs, which no hook replaces: the root help is
	// payguard's own; every other command, and each command's help, is
	// Caddy's (with the hooks above).
	if isRootHelp(os.Args[1:]) {
		writeRootHelp(os.Stdout, caddycmd.Commands())
		return
	}
	caddycmd.Main()
}
