package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/payguard/payguard/internal/caddyfileopts"
)

// parseGlobalOption parses the global options block; the grammars of
// store and audit are caddyfileopts.Store's and caddyfileopts.Audit's:
//
//	payguard {
//		store memory
//		store redis <url> {
//			key_prefix payguard:
//			addrs <host:port> ...
//			master_name <name>
//		}
//		audit file <path>
//		audit redis_stream <stream> {
//			maxlen 100000
//			url <redis url>
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		return nil, d.Err("payguard global option given twice")
	}
	d.Next() // option name
	b := &caddyfileopts.Block{
		Twice: "payguard: ",
		Options: []caddyfileopts.Option{
			{Name: "store", Kind: caddyfileopts.Grammar, Parse: func(d *caddyfile.Dispenser) (err error) {
				app.Store, err = caddyfileopts.Store(d)
				return err
			}},
			{Name: "audit", Kind: caddyfileopts.Grammar, Parse: func(d *caddyfile.Dispenser) (err error) {
				app.Audit, err = caddyfileopts.Audit(d)
				return err
			}},
		},
		Unknownf: "payguard: unknown global option %q",
	}
	if err := b.WalkBare(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "payguard", Value: caddyconfig.JSON(app, nil)}, nil
}
