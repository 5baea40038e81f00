// Package caddyfileopts reads payguard's Caddyfile blocks: one walker over
// a table of options (the handler's block, query, recover, the app's
// global options, store redis, audit redis_stream, payguard_sim), and the
// grammars of the blocks whose configs are Caddy-free (the app's store and
// audit, a provider's option table, a policy). It needs Caddy's Caddyfile
// lexer and its duration syntax, not its runtime, as Caddy's own
// caddyconfig/httpcaddyfile keeps the global options' grammars apart from
// the apps they configure; the host (caddymodule) owns the tables' fields.
package caddyfileopts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/route"
)

// Kind is what an option's arguments are.
type Kind uint8

const (
	String    Kind = iota // exactly one argument, into a *string
	List                  // one or more, into a *[]string
	Duration              // one duration, into a *caddy.Duration or **caddy.Duration
	Durations             // one or more, into a *[]caddy.Duration
	Size                  // one size (max_body), into an *int64
	Count                 // one positive integer, into an *int64
	Grammar               // its own grammar: Parse reads it
)

// Option is one row of a block's table: its name, its kind, the config
// field it lands in (To), and its arguments' own rule (Check, whose
// message is the error's).
type Option struct {
	Name   string
	Kind   Kind
	To     any
	Check  func(args []string) error
	Parse  func(d *caddyfile.Dispenser) error
	ZeroOK bool // a duration of 0 is allowed
	Repeat bool // may be given more than once
}

// Block is one Caddyfile block's table and how its errors read.
type Block struct {
	Options []Option
	// Twice prefixes a repeated option's name ("payguard: query.").
	Twice string
	// Label prefixes an option's name where its value is refused
	// ("payguard: query "); Durations says what a duration must be.
	Label, Durations string
	// Other parses an option that is not in the table (a provider's);
	// false: not one either.
	Other func(d *caddyfile.Dispenser, opt string) (bool, error)
	// Unknownf is the error for an option nobody takes: %q is the option
	// and, if Listed, %s the table's names; Unknown, if set, replaces it.
	Unknownf string
	Listed   bool
	Unknown  func(d *caddyfile.Dispenser, opt string) error
}

// Walk reads the block that follows the current token.
func (b *Block) Walk(d *caddyfile.Dispenser) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		opt := b.lookup(name)
		if opt == nil || !opt.Repeat {
			if seen[name] {
				return d.Errf("%s%s given twice", b.Twice, name)
			}
			seen[name] = true
		}
		var err error
		handled := opt != nil
		if handled {
			err = b.read(d, opt)
		} else if b.Other != nil {
			handled, err = b.Other(d, name)
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

// WalkBare reads a directive or option that takes no argument of its own,
// only a block: the current token is its name.
func (b *Block) WalkBare(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return b.Walk(d)
}

func (b *Block) unknownOption(d *caddyfile.Dispenser, name string) error {
	if b.Unknown != nil {
		return b.Unknown(d, name)
	}
	if !b.Listed {
		return d.Errf(b.Unknownf, name)
	}
	names := make([]string, len(b.Options))
	for i, o := range b.Options {
		names[i] = o.Name
	}
	return d.Errf(b.Unknownf, name, strings.Join(names, ", "))
}

func (b *Block) lookup(name string) *Option {
	for i := range b.Options {
		if b.Options[i].Name == name {
			return &b.Options[i]
		}
	}
	return nil
}

// Args takes the current option's arguments: one or more when multi,
// otherwise exactly one.
func Args(d *caddyfile.Dispenser, multi bool) ([]string, error) {
	if multi {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return nil, d.ArgErr()
		}
		return args, nil
	}
	var v string
	if !d.AllArgs(&v) {
		return nil, d.ArgErr()
	}
	return []string{v}, nil
}

// read takes the option's arguments, checks them and stores them.
func (b *Block) read(d *caddyfile.Dispenser, o *Option) error {
	if o.Kind == Grammar {
		return o.Parse(d)
	}
	args, err := Args(d, o.Kind == List || o.Kind == Durations)
	if err != nil {
		return err
	}
	if o.Check != nil {
		if err := o.Check(args); err != nil {
			return d.Err(err.Error())
		}
	}
	switch o.Kind {
	case String:
		*o.To.(*string) = args[0]
	case List:
		*o.To.(*[]string) = args
	case Size, Count:
		return b.readNumber(d, o, args[0])
	case Duration, Durations:
		return b.readDurations(d, o, args)
	}
	return nil
}

func (b *Block) readNumber(d *caddyfile.Dispenser, o *Option, s string) error {
	var n int64
	var err error
	if o.Kind == Size {
		if n, err = route.ParseMaxBody(s); err != nil {
			return d.Err(err.Error())
		}
	} else if n, err = strconv.ParseInt(s, 10, 64); err != nil || n <= 0 {
		return d.Errf("%s%s %q is not a positive number of entries", b.Label, o.Name, s)
	}
	*o.To.(*int64) = n
	return nil
}

func (b *Block) readDurations(d *caddyfile.Dispenser, o *Option, args []string) error {
	out := make([]caddy.Duration, len(args))
	for i, s := range args {
		dur, err := caddy.ParseDuration(s)
		if err != nil || dur < 0 || (dur == 0 && !o.ZeroOK) {
			return d.Errf("%s%s %q is not a %s duration", b.Label, o.Name, s, b.Durations)
		}
		out[i] = caddy.Duration(dur)
	}
	switch to := o.To.(type) {
	case *caddy.Duration:
		*to = out[0]
	case **caddy.Duration:
		*to = &out[0]
	case *[]caddy.Duration:
		*to = out
	}
	return nil
}

// Prefixed is err as the handler's options report it: "payguard: ...".
func Prefixed(err error) error {
	if err != nil {
		return fmt.Errorf("payguard: %v", err)
	}
	return nil
}

// Each applies check to every argument.
func Each(check func(string) error) func([]string) error {
	return func(args []string) error {
		for _, a := range args {
			if err := check(a); err != nil {
				return err
			}
		}
		return nil
	}
}
