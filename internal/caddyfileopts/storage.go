package caddyfileopts

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/storage"
)

// Store reads the app's `store` option, the current token:
//
//	store memory
//	store redis <url> {
//		key_prefix payguard:
//		addrs <host:port> ...
//		master_name <name>
//	}
func Store(d *caddyfile.Dispenser) (*storage.StoreConfig, error) {
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
	b := &Block{
		Twice: "payguard store redis: ",
		Options: []Option{
			{Name: "key_prefix", Kind: String, To: &sc.KeyPrefix},
			{Name: "addrs", Kind: List, To: &sc.Addrs},
			{Name: "master_name", Kind: String, To: &sc.MasterName},
		},
		Unknownf: "payguard store redis: unknown option %q",
	}
	if err := b.Walk(d); err != nil {
		return nil, err
	}
	if err := storage.Validate(sc, nil); err != nil {
		return nil, d.Err(err.Error())
	}
	return sc, nil
}

// Audit reads the app's `audit` option, the current token:
//
//	audit file <path>
//	audit redis_stream <stream> {
//		maxlen 100000
//		url <redis url>
//	}
func Audit(d *caddyfile.Dispenser) (*storage.AuditConfig, error) {
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
	b := &Block{
		Twice: "payguard audit redis_stream: ", Label: "payguard audit redis_stream: ",
		Options: []Option{
			{Name: "maxlen", Kind: Count, To: &ac.MaxLen},
			{Name: "url", Kind: String, To: &ac.URL},
		},
		Unknownf: "payguard audit redis_stream: unknown option %q (%s)", Listed: true,
	}
	return ac, b.Walk(d)
}
