package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/route"
)

// The Caddyfile's blocks (the handler's, query, recover, the app's global
// options, store redis, audit redis_stream) are each a table of options
// read by one walker, as a provider's options are read from its spec's
// table (caddyfile_provider.go). An option with a grammar of its own
// (query, recover, mode watch, policy, store, audit) keeps a small parser.

// optKind is what an option's arguments are.
type optKind uint8

const (
	kindString    optKind = iota // exactly one argument, into a *string
	kindList                     // one or more, into a *[]string
	kindDuration                 // one duration, into a *caddy.Duration or **caddy.Duration
	kindDurations                // one or more, into a *[]caddy.Duration
	kindSize                     // one size (max_body), into an *int64
	kindCount                    // one positive integer, into an *int64
	kindGrammar                  // its own grammar: parse reads it
)

// option is one row of a block's table: its name, its kind, the config
// field it lands in (to), and its arguments' own rule (check, whose
// message is the error's).
type option struct {
	name   string
	kind   optKind
	to     any
	check  func(args []string) error
	parse  func(d *caddyfile.Dispenser) error
	zeroOK bool // a duration of 0 is allowed
	repeat bool // may be given more than once
}

// block is one Caddyfile block's table and how its errors read.
type block struct {
	options []option
	// twice prefixes a repeated option's name ("payguard: query.").
	twice string
	// label prefixes an option's name where its value is refused
	// ("payguard: query "); durations says what a duration must be.
	label, durations string
	// other parses an option that is not in the table (a provider's);
	// false: not one either.
	other func(d *caddyfile.Dispenser, opt string) (bool, error)
	// unknownf is the error for an option nobody takes: %q is the option
	// and, if listed, %s the table's names; unknown, if set, replaces it.
	unknownf string
	listed   bool
	unknown  func(d *caddyfile.Dispenser, opt string) error
}

// walk reads the block that follows the current token.
func (b *block) walk(d *caddyfile.Dispenser) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		opt := b.lookup(name)
		if opt == nil || !opt.repeat {
			if seen[name] {
				return d.Errf("%s%s given twice", b.twice, name)
			}
			seen[name] = true
		}
		var err error
		handled := opt != nil
		if handled {
			err = b.read(d, opt)
		} else if b.other != nil {
			handled, err = b.other(d, name)
		}
		if err == nil && !handled {
			err = b.unknownOption(d, name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *block) unknownOption(d *caddyfile.Dispenser, name string) error {
	if b.unknown != nil {
		return b.unknown(d, name)
	}
	if !b.listed {
		return d.Errf(b.unknownf, name)
	}
	names := make([]string, len(b.options))
	for i, o := range b.options {
		names[i] = o.name
	}
	return d.Errf(b.unknownf, name, strings.Join(names, ", "))
}

func (b *block) lookup(name string) *option {
	for i := range b.options {
		if b.options[i].name == name {
			return &b.options[i]
		}
	}
	return nil
}

// read takes the option's arguments, checks them and stores them.
func (b *block) read(d *caddyfile.Dispenser, o *option) error {
	if o.kind == kindGrammar {
		return o.parse(d)
	}
	var args []string
	if o.kind == kindList || o.kind == kindDurations {
		if args = d.RemainingArgs(); len(args) == 0 {
			return d.ArgErr()
		}
	} else {
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		args = []string{v}
	}
	if o.check != nil {
		if err := o.check(args); err != nil {
			return d.Err(err.Error())
		}
	}
	switch o.kind {
	case kindString:
		*o.to.(*string) = args[0]
	case kindList:
		*o.to.(*[]string) = args
	case kindSize, kindCount:
		return b.readNumber(d, o, args[0])
	case kindDuration, kindDurations:
		return b.readDurations(d, o, args)
	}
	return nil
}

func (b *block) readNumber(d *caddyfile.Dispenser, o *option, s string) error {
	var n int64
	var err error
	if o.kind == kindSize {
		if n, err = route.ParseMaxBody(s); err != nil {
			return d.Err(err.Error())
		}
	} else if n, err = strconv.ParseInt(s, 10, 64); err != nil || n <= 0 {
		return d.Errf("%s%s %q is not a positive number of entries", b.label, o.name, s)
	}
	*o.to.(*int64) = n
	return nil
}

func (b *block) readDurations(d *caddyfile.Dispenser, o *option, args []string) error {
	out := make([]caddy.Duration, len(args))
	for i, s := range args {
		dur, err := caddy.ParseDuration(s)
		if err != nil || dur < 0 || (dur == 0 && !o.zeroOK) {
			return d.Errf("%s%s %q is not a %s duration", b.label, o.name, s, b.durations)
		}
		out[i] = caddy.Duration(dur)
	}
	switch to := o.to.(type) {
	case *caddy.Duration:
		*to = out[0]
	case **caddy.Duration:
		*to = &out[0]
	case *[]caddy.Duration:
		*to = out
	}
	return nil
}

// prefixed is err as the handler's options report it: "payguard: ...".
func prefixed(err error) error {
	if err != nil {
		return fmt.Errorf("payguard: %v", err)
	}
	return nil
}

// each applies check to every argument.
func each(check func(string) error) func([]string) error {
	return func(args []string) error {
		for _, a := range args {
			if err := check(a); err != nil {
				return err
			}
		}
		return nil
	}
}
