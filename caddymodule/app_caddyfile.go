package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/payguard/payguard/internal/storage"
)

// parseGlobalOption parses the global options block:
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
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	b := &block{
		twice: "payguard: ",
		options: []option{
			{name: "store", kind: kindGrammar, parse: func(d *caddyfile.Dispenser) (err error) {
				app.Store, err = parseStoreOption(d)
				return err
			}},
			{name: "audit", kind: kindGrammar, parse: func(d *caddyfile.Dispenser) (err error) {
				app.Audit, err = parseAuditOption(d)
				return err
			}},
		},
		unknownf: "payguard: unknown global option %q",
	}
	if err := b.walk(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "payguard", Value: caddyconfig.JSON(app, nil)}, nil
}

func parseStoreOption(d *caddyfile.Dispenser) (*storage.StoreConfig, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	sc := &storage.StoreConfig{Type: d.Val()}
	switch sc.Type {
	case "memory":
		if d.NextArg() {
			return nil, d.ArgErr()
		}
		return sc, nil
	case "redis":
	default:
		return nil, d.Errf("payguard: unknown store %q (memory or redis)", sc.Type)
	}
	if d.NextArg() {
		sc.URL = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	b := &block{
		twice: "payguard store redis: ",
		options: []option{
			{name: "key_prefix", kind: kindString, to: &sc.KeyPrefix},
			{name: "addrs", kind: kindList, to: &sc.Addrs},
			{name: "master_name", kind: kindString, to: &sc.MasterName},
		},
		unknownf: "payguard store redis: unknown option %q",
	}
	if err := b.walk(d); err != nil {
		return nil, err
	}
	if err := storage.Validate(sc, nil); err != nil {
		return nil, d.Err(err.Error())
	}
	return sc, nil
}

func parseAuditOption(d *caddyfile.Dispenser) (*storage.AuditConfig, error) {
	var kind, target string
	if !d.Args(&kind, &target) || d.NextArg() {
		return nil, d.ArgErr()
	}
	ac := &storage.AuditConfig{Type: kind}
	switch kind {
	case "file":
		ac.Path = target
		if d.NextBlock(d.Nesting()) {
			return nil, d.Err("payguard audit file takes no block")
		}
		return ac, nil
	case "redis_stream":
		ac.Stream = target
	default:
		return nil, d.Errf("payguard: unknown audit sink %q (file or redis_stream)", kind)
	}
	b := &block{
		twice: "payguard audit redis_stream: ", label: "payguard audit redis_stream: ",
		options: []option{
			{name: "maxlen", kind: kindCount, to: &ac.MaxLen},
			{name: "url", kind: kindString, to: &ac.URL},
		},
		unknownf: "payguard audit redis_stream: unknown option %q (%s)", listed: true,
	}
	return ac, b.walk(d)
}
