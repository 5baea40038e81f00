package caddymodule

import (
	"fmt"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/provider"
)

// loadSecret returns the value of a key option given inline (opt) or as a
// file (opt_file). Placeholders such as {env.NAME} and {file./path} are
// resolved here, at provision, into memory only: the JSON config keeps the
// placeholder, never the secret. Errors name the option, never its value.
func loadSecret(repl *caddy.Replacer, opt, inline, file string) ([]byte, error) {
	if inline != "" && file != "" {
		return nil, fmt.Errorf("%s and %s_file are both set; use one", opt, opt)
	}
	if inline != "" {
		v, err := repl.ReplaceOrErr(inline, true, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", opt, err)
		}
		return []byte(v), nil
	}
	if file != "" {
		return readConfigFile(repl, opt+"_file", file)
	}
	return nil, nil
}

// readConfigFile reads a file named by an option (certificates, key files).
func readConfigFile(repl *caddy.Replacer, opt, path string) ([]byte, error) {
	p, err := repl.ReplaceOrErr(path, true, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", opt, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %s: %v", opt, p, errNoPath(err))
	}
	return b, nil
}

// errNoPath drops the path from an *os.PathError (the caller names it).
func errNoPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// hasPlaceholder reports whether v holds a runtime placeholder, whose value
// is only known at provision.
func hasPlaceholder(v string) bool { return strings.Contains(v, "{") }

// checkAtParse gives a key or file option's error the Caddyfile line: when
// the value holds no placeholder, it is read and parsed while adapting.
func checkAtParse(d *caddyfile.Dispenser, opt, value string, isFile bool, parse func([]byte) error) error {
	if hasPlaceholder(value) {
		return nil
	}
	data := []byte(value)
	if isFile {
		b, err := os.ReadFile(value)
		if err != nil {
			return d.Errf("%s: cannot read %s: %v", opt, value, errNoPath(err))
		}
		data = b
	}
	if err := parse(data); err != nil {
		return d.Errf("%s: %v", opt, err)
	}
	return nil
}

// oneArg reads exactly one argument for the option at d.Val().
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
	}
	return nil
}

// secretOption parses a key option given inline (`name value`) or as a file
// (`name_file path`), at d.Val(). The value is checked with check while
// adapting when it holds no placeholder, and stored in inline or file.
func secretOption(d *caddyfile.Dispenser, inline, file *string, check func([]byte) error) error {
	opt := d.Val()
	var v string
	if err := oneArg(d, &v); err != nil {
		return err
	}
	isFile := strings.HasSuffix(opt, "_file")
	if err := checkAtParse(d, opt, v, isFile, check); err != nil {
		return err
	}
	if isFile {
		*file = v
	} else {
		*inline = v
	}
	return nil
}

// queryingProvider is a provider with an optional reverse query.
type queryingProvider interface {
	provider.Provider
	provider.Querier
	CanQuery() bool
}

// withQuerier returns p as the provider, and as the querier only when its
// query credentials are configured.
func withQuerier(p queryingProvider) (provider.Provider, provider.Querier, error) {
	if p.CanQuery() {
		return p, p, nil
	}
	return p, nil, nil
}
