package stripe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/payguard/payguard/internal/provider"
)

func init() { provider.Register(Spec) }

// Spec declares the stripe provider: its options (DESIGN.md section 3),
// their rules, how it is built, and its simulator.
//
// Secrets: `secret` takes one or more whsec_ values (several while a
// secret is rolled), each of which may be a placeholder ({env.NAME},
// {file./path}); `secret_file` takes one or more files holding one secret
// each. Both may be used together; at least one secret is required. A
// KindSecret option holds one value only, which rotation outgrows, hence
// a list and a list of files rather than the usual secret[_file] pair.
var Spec = &provider.Spec{
	Name:        Name,
	Recoverable: true,
	Summary:     "Stripe webhook events (Stripe-Signature, HMAC-SHA256), confirmed by retrieving the event",
	Options: []provider.Option{
		{
			Name: "secret", Kind: provider.KindList, Parse: CheckSecret,
			Doc: "the endpoint's signing secrets (whsec_...), several while one is rolled; placeholders allowed",
		},
		{
			Name: "secret_file", Kind: provider.KindFiles, Parse: CheckSecret,
			Doc: "files holding one signing secret each (no trailing newline)",
		},
		{
			Name: "api_key", Kind: provider.KindSecret, Query: true, Parse: CheckAPIKey,
			Doc: "a secret (sk_) or restricted (rk_) key that may read events and PaymentIntents",
		},
	},
	Check: func(v provider.Values) error {
		if len(v["secret"]) == 0 && len(v["secret_file"]) == 0 {
			return errors.New("secret (or secret_file) is required: the endpoint's signing secret, whsec_...")
		}
		if n := len(v["secret"]) + len(v["secret_file"]); n > MaxSecrets {
			return fmt.Errorf("%d secrets; at most %d (Stripe keeps two alive while one is rolled)", n, MaxSecrets)
		}
		return nil
	},
	Build:   build,
	Sandbox: sandboxSpec,
}

func build(env *provider.Env) (provider.Built, error) {
	var secrets [][]byte
	for _, s := range env.List("secret") {
		secrets = append(secrets, []byte(s))
	}
	secrets = append(secrets, env.Files("secret_file")...)
	p, err := New(secrets)
	if err != nil {
		return provider.Built{}, err
	}
	key := env.Bytes("api_key")
	if key == nil {
		return provider.Built{Provider: p}, nil
	}
	q, err := NewQueryClient(QueryConfig{APIKey: key, Endpoint: env.QueryEndpoint, HTTPClient: env.HTTPClient})
	if err != nil {
		return provider.Built{}, err
	}
	if !q.Live() {
		env.Warn("stripe: api_key is a test-mode key: live-mode events will be refused as query_mismatch")
	}
	if u, _ := url.Parse(q.Endpoint()); u.Scheme == "http" && !loopback(u.Hostname()) {
		env.Warn("stripe: the query endpoint is plain http on another host: the API key crosses the network unencrypted")
	}
	return provider.Built{Provider: p, Querier: q}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckSecret checks a webhook signing secret as Stripe issues it:
// whsec_ and printable ASCII, without whitespace. The error never quotes
// the value.
func CheckSecret(b []byte) error {
	s := string(b)
	switch {
	case strings.HasPrefix(s, "sk_"), strings.HasPrefix(s, "rk_"), strings.HasPrefix(s, "pk_"):
		return errors.New("this is an API key, not a webhook signing secret (whsec_..., the endpoint's Signing secret)")
	case !strings.HasPrefix(s, SecretPrefix) || len(s) <= len(SecretPrefix):
		return errors.New("a Stripe signing secret starts with whsec_ (the endpoint's Signing secret in the Dashboard)")
	}
	return printable(b)
}

// CheckAPIKey checks a Stripe API key: a secret (sk_) or restricted (rk_)
// key of test or live mode. A publishable key cannot read events.
func CheckAPIKey(b []byte) error {
	s := string(b)
	switch {
	case strings.HasPrefix(s, "pk_"):
		return errors.New("a publishable key (pk_) cannot read events: use a secret (sk_) or restricted (rk_) key")
	case strings.HasPrefix(s, SecretPrefix):
		return errors.New("this is a webhook signing secret; the query needs a secret (sk_) or restricted (rk_) API key")
	}
	ok := false
	for _, p := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_"} {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			ok = true
		}
	}
	if !ok {
		return errors.New("a Stripe API key starts with sk_test_, sk_live_, rk_test_ or rk_live_")
	}
	return printable(b)
}

func printable(b []byte) error {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			if c == '\n' || c == '\r' {
				return errors.New("holds a line break (a file ending with a newline?): write it without one")
			}
			return errors.New("holds whitespace or a non-ASCII byte")
		}
	}
	return nil
}
