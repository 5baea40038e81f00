// Command payguard is Caddy with the standard modules and the payguard module
// linked in: `payguard run`, `adapt`, `validate` and `reload` are Caddy's own.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// the standard Caddy modules
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
