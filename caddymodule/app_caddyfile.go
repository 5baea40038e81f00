package caddymodule

import (
	"strconv"

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
	seen := map[string]bool{}
	for d.NextBlock(0) {
		opt := d.Val()
		if seen[opt] {
			return nil, d.Errf("payguard: %s given twice", opt)
		}
		seen[opt] = true
		var err error
		switch opt {
		case "store":
			app.Store, err = parseStoreOption(d)
		case "audit":
			app.Audit, err = parseAuditOption(d)
		default:
			err = d.Errf("payguard: unknown global option %q", opt)
		}
		if err != nil {
			return nil, err
		}
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
	err := eachSubOption(d, "payguard store redis", func(o string) error {
		switch o {
		case "key_prefix":
			if !d.AllArgs(&sc.KeyPrefix) {
				return d.ArgErr()
			}
		case "addrs":
			sc.Addrs = d.RemainingArgs()
			if len(sc.Addrs) == 0 {
				return d.ArgErr()
			}
		case "master_name":
			if !d.AllArgs(&sc.MasterName) {
				return d.ArgErr()
			}
		default:
			return d.Errf("payguard store redis: unknown option %q", o)
		}
		return nil
	})
	if err != nil {
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
	err := eachSubOption(d, "payguard audit redis_stream", func(o string) error {
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		switch o {
		case "maxlen":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("payguard audit redis_stream: maxlen %q is not a positive number of entries", v)
			}
			ac.MaxLen = n
		case "url":
			ac.URL = v
		default:
			return d.Errf("payguard audit redis_stream: unknown option %q (maxlen, url)", o)
		}
		return nil
	})
	return ac, err
}

// eachSubOption calls f for each option of the block that follows,
// refusing a repeated one.
func eachSubOption(d *caddyfile.Dispenser, what string, f func(opt string) error) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		o := d.Val()
		if seen[o] {
			return d.Errf("%s: %s given twice", what, o)
		}
		seen[o] = true
		if err := f(o); err != nil {
			return err
		}
	}
	return nil
}
