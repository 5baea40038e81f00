package provider

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Spec declares one provider to payguard: its name, its option table (the
// single source of its Caddyfile and JSON options), its own checks of those
// options, how it is built, and its part of the simulator.
//
// A provider package calls Register once, in its init; the Caddy glue, the
// simulator and the conformance suites walk Specs and need no code of
// their own per provider. internal/provider/all imports every provider
// package: the one line a new provider adds outside its package.
type Spec struct {
	// Name is the directive's provider name ("alipay") and the Caddy module
	// payguard.providers.<Name>.
	Name string
	// Summary is one line for help texts.
	Summary string
	// Options are the provider's own options, in the order help texts
	// list them.
	Options []Option
	// Check applies the rules between options (required pairs, modes that
	// exclude each other) to the configured values. It runs while adapting
	// (for the Caddyfile line) and again at provision (for JSON configs).
	// Single-option rules (required, enum values, key parsing) are the
	// table's and need no code here.
	Check func(v Values) error
	// Build makes the provider (and its querier, when its query
	// credentials are configured) from resolved options, once, at
	// provision.
	Build func(env *Env) (Built, error)
	// Sandbox is the provider's part of the simulator; nil when it has
	// none (it is then absent from `payguard sim`).
	Sandbox *SandboxSpec
	// Recoverable says the provider's Querier also implements
	// OrderQuerier (its query API answers by the merchant's order number),
	// so lost-callback recovery (`recover`, `mode watch`) is offered for
	// it. It is known before anything is built: a `mode watch` route has
	// no keys to build a provider from. The provider conformance suite
	// checks it against the built querier.
	Recoverable bool
	// MerchantOption names the option whose value is the merchant every
	// notification is addressed to (Notification.Merchant, checked against
	// it), so that a route's order namespace (DESIGN.md section 3) is known
	// before any notification arrives: lost-callback recovery's watches and
	// a `mode watch` route use it. Empty: notifications of the account the
	// options configure name no merchant. The provider conformance suite
	// checks it against the sandbox's notifications.
	MerchantOption string
}

// Built is what Spec.Build returns.
type Built struct {
	Provider Provider
	// Querier is nil when no query credentials are configured: the query
	// stage is then skipped (or, with `query on`, the configuration fails).
	Querier Querier
}

// SelfQuerying is the Built of a provider that is its own Querier once its
// query options are configured (canQuery), and has no Querier before.
func SelfQuerying(p interface {
	Provider
	Querier
}, canQuery bool) Built {
	b := Built{Provider: p}
	if canQuery {
		b.Querier = p
	}
	return b
}

// OptionKind says how an option's arguments are read and resolved.
type OptionKind int

const (
	// KindString is one argument; placeholders are resolved at provision.
	KindString OptionKind = iota
	// KindSecret is a key or secret given inline (`name value`) or as a file
	// (`name_file path`): the table names it once and the glue accepts both
	// spellings. Resolved to bytes at provision; never logged.
	KindSecret
	// KindFile is one path, read at provision.
	KindFile
	// KindFiles is one or more paths, each read at provision.
	KindFiles
	// KindList is one or more arguments.
	KindList
	// KindEnum is one argument among Values.
	KindEnum
)

// Option is one row of a provider's option table.
type Option struct {
	// Name is the Caddyfile option name; a KindSecret option also answers
	// to Name+"_file".
	Name string
	// JSON is the key in the JSON config; Name when empty.
	JSON string
	Kind OptionKind
	// Query puts the option in the `query { }` block.
	Query bool
	// Required options must be configured (a KindSecret one inline or as a
	// file).
	Required bool
	// Values are the accepted words of a KindEnum option.
	Values []string
	// Literal takes a KindString or KindList value as written: no
	// placeholder is resolved in it. For values whose own syntax uses
	// braces, which Caddy's replacer would read as unknown placeholders:
	// generic's key_suffix "&key={secret}" and CEL expressions (map
	// literals).
	Literal bool
	// Parse checks one value: a secret's or a file's bytes, a string's
	// text. It runs while adapting when the value holds no placeholder, and
	// at provision on the resolved value. Its error never quotes the value.
	Parse func([]byte) error
	// Doc is a short description for help texts and docs.
	Doc string
}

// ParseCheck makes an Option.Parse out of a parser that builds a value (a
// key, a certificate chain): the check keeps only the error, and Build
// parses the resolved bytes again for the value.
func ParseCheck[T any](parse func([]byte) (T, error)) func([]byte) error {
	return func(b []byte) error {
		_, err := parse(b)
		return err
	}
}

// JSONKey is the option's key in the JSON config.
func (o Option) JSONKey() string {
	if o.JSON != "" {
		return o.JSON
	}
	return o.Name
}

// FileKey is the JSON key of a KindSecret option's file twin.
func (o Option) FileKey() string { return o.JSONKey() + "_file" }

// Multi reports whether the option takes several arguments.
func (o Option) Multi() bool { return o.Kind == KindFiles || o.Kind == KindList }

var (
	registryMu sync.RWMutex
	registry   = map[string]*Spec{}
)

// Register declares a provider. It panics on a malformed spec or a second
// registration of a name: both are programming errors found at start.
func Register(s *Spec) {
	if err := s.validate(); err != nil {
		panic("provider.Register: " + err.Error())
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("provider.Register: " + s.Name + " registered twice")
	}
	registry[s.Name] = s
}

// Lookup returns the registered spec of that name.
func Lookup(name string) (*Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := registry[name]
	return s, ok
}

// Specs returns every registered spec, by name.
func Specs() []*Spec {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]*Spec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the registered provider names, sorted.
func Names() []string {
	var out []string
	for _, s := range Specs() {
		out = append(out, s.Name)
	}
	return out
}

func (s *Spec) validate() error {
	if s.Name == "" || s.Build == nil {
		return fmt.Errorf("spec %q needs a Name and Build", s.Name)
	}
	seen := map[string]bool{}
	for _, o := range s.Options {
		keys := []string{o.Name, o.JSONKey()}
		if o.Kind == KindSecret {
			keys = append(keys, o.Name+"_file", o.FileKey())
		}
		for _, k := range keys {
			if seen[k] && k != o.Name && k != o.JSONKey() {
				return fmt.Errorf("%s: option %q declared twice", s.Name, k)
			}
		}
		if seen[o.Name] {
			return fmt.Errorf("%s: option %q declared twice", s.Name, o.Name)
		}
		for _, k := range keys {
			seen[k] = true
		}
		if o.Literal && o.Kind != KindString && o.Kind != KindList {
			return fmt.Errorf("%s: option %q: only string and list options are literal", s.Name, o.Name)
		}
		if o.Kind == KindEnum && len(o.Values) == 0 {
			return fmt.Errorf("%s: enum option %q has no values", s.Name, o.Name)
		}
	}
	return nil
}

// Option returns the option the Caddyfile name (or a secret's _file twin)
// designates; file is true for the twin.
func (s *Spec) Option(caddyfileName string, inQuery bool) (opt Option, file, ok bool) {
	for _, o := range s.Options {
		if o.Query != inQuery {
			continue
		}
		if o.Name == caddyfileName {
			return o, false, true
		}
		if o.Kind == KindSecret && o.Name+"_file" == caddyfileName {
			return o, true, true
		}
	}
	return Option{}, false, false
}

// OptionNames lists the Caddyfile names valid in the block (query or not),
// for an unknown option's error.
func (s *Spec) OptionNames(inQuery bool) []string {
	var out []string
	for _, o := range s.Options {
		if o.Query != inQuery {
			continue
		}
		out = append(out, o.Name)
		if o.Kind == KindSecret {
			out = append(out, o.Name+"_file")
		}
	}
	return out
}

// Values are a provider's configured options before resolution, by JSON
// key: one element for single-valued options, the arguments for lists. A
// KindSecret option's file twin sits under Option.FileKey.
type Values map[string][]string

// Get is the single value under the JSON key of the option named name (a
// KindSecret option's inline value), "" when absent.
func (v Values) Get(key string) string {
	if a := v[key]; len(a) > 0 {
		return a[0]
	}
	return ""
}

// Has reports whether the option with that JSON key is set; for a secret,
// inline or as a file.
func (v Values) Has(key string) bool {
	return len(v[key]) > 0 || len(v[key+"_file"]) > 0
}

// CheckTable applies the single-option rules of the table to v: unknown
// keys, required options, a secret given both inline and as a file, enum
// words. Parse checks are the caller's (they need files read).
func (s *Spec) CheckTable(v Values) error {
	known := map[string]Option{}
	for _, o := range s.Options {
		known[o.JSONKey()] = o
		if o.Kind == KindSecret {
			known[o.FileKey()] = o
		}
	}
	for k := range v {
		if _, ok := known[k]; !ok {
			return fmt.Errorf("unknown option %q (valid: %s)", k, strings.Join(s.jsonKeys(), ", "))
		}
	}
	for _, o := range s.Options {
		switch {
		case o.Kind == KindSecret && len(v[o.JSONKey()]) > 0 && len(v[o.FileKey()]) > 0:
			return fmt.Errorf("%s and %s_file are both set; use one", o.Name, o.Name)
		case o.Required && !v.Has(o.JSONKey()):
			if o.Kind == KindSecret {
				return fmt.Errorf("%s (or %s_file) is required", o.Name, o.Name)
			}
			return fmt.Errorf("%s is required", o.Name)
		case o.Kind == KindEnum && v.Has(o.JSONKey()) && !hasPlaceholder(v.Get(o.JSONKey())):
			if !contains(o.Values, v.Get(o.JSONKey())) {
				return fmt.Errorf("%s must be %s, not %q", o.Name, strings.Join(o.Values, " or "), v.Get(o.JSONKey()))
			}
		}
	}
	if s.Check != nil {
		return s.Check(v)
	}
	return nil
}

func (s *Spec) jsonKeys() []string {
	var out []string
	for _, o := range s.Options {
		out = append(out, o.JSONKey())
		if o.Kind == KindSecret {
			out = append(out, o.FileKey())
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// hasPlaceholder reports whether v holds a placeholder, whose value is only
// known at provision.
func hasPlaceholder(v string) bool { return strings.Contains(v, "{") }

// HasPlaceholder is hasPlaceholder for the glue.
func HasPlaceholder(v string) bool { return hasPlaceholder(v) }

// HoldsPlaceholder reports whether v, a value of this option, is only
// known at provision: a literal option's value never is, braces and all,
// so its Parse can run while adapting.
func (o Option) HoldsPlaceholder(v string) bool { return !o.Literal && hasPlaceholder(v) }

// Env is what a provider is built from: its options resolved (placeholders
// replaced, files read), and the handler's settings that concern it.
type Env struct {
	strings map[string]string
	bytes   map[string][]byte
	files   map[string][][]byte
	lists   map[string][]string

	// Tolerance is the handler's signed-timestamp window.
	Tolerance time.Duration
	// MaxAge is the oldest signed event time accepted where no send time is
	// signed (the pipeline checks it; providers with signed answers may use
	// it too).
	MaxAge time.Duration
	// QueryEndpoint is the `query { endpoint }` value, "" for the
	// provider's production API.
	QueryEndpoint string
	// HTTPClient is the outgoing client every provider uses for every call
	// it makes (NewHTTPClient's policy: the query timeout, no redirects, a
	// bounded answer, trace context propagated).
	HTTPClient *http.Client
	// Now is the clock; time.Now in production.
	Now func() time.Time
	// Warn tells the operator something at start (a weak algorithm, an
	// expiring certificate). Never nil after Resolve.
	Warn func(msg string)
}

// String is a KindString or KindEnum option's resolved value, by option
// name ("" when unset).
func (e *Env) String(name string) string { return e.strings[name] }

// Bytes is a KindSecret or KindFile option's resolved bytes (nil when
// unset). The provider keeps its own parsed copy; the glue clears these
// after Build.
func (e *Env) Bytes(name string) []byte { return e.bytes[name] }

// Files is a KindFiles option's contents, one entry per file.
func (e *Env) Files(name string) [][]byte { return e.files[name] }

// List is a KindList option's arguments, placeholders resolved.
func (e *Env) List(name string) []string { return e.lists[name] }

// Clear wipes resolved secrets once the provider holds its parsed copy.
func (e *Env) Clear() {
	for _, b := range e.bytes {
		clear(b)
	}
}
