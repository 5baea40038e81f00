// Command payguard is Caddy with the standard modules and the payguard
// module linked in: `payguard run`, `adapt`, `validate` and `reload` are
// Caddy's own; payguard adds its `sim` subcommands.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// the standard Caddy modules
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// payguard, and the example shop of the local stack
	_ "github.com/payguard/payguard/caddymodule"
	_ "github.com/payguard/payguard/examples/shop"
)

func main() {
	caddycmd.Main()
}
