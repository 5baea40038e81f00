package stdwebhooks

import (
	"crypto/ed25519"
	"errors"
	"strings"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/stdwebhook"
)

func init() { provider.Register(Spec()) }

// Spec is the provider's declaration: its option table, the rule between
// secret and public_key, Build, and its simulator part.
func Spec() *provider.Spec {
	opts := []provider.Option{
		{Name: "secret", Kind: provider.KindList, Parse: parseSecret,
			Doc: "v1: one or more whsec_ secrets (several during a rotation); any may match"},
		{Name: "public_key", Kind: provider.KindList, Parse: parsePublicKey,
			Doc: "v1a: one or more Ed25519 public keys (whpk_..., bare base64, or PEM); excludes secret"},
	}
	// Mappings are CEL, taken as written (Literal): a map literal's braces
	// are CEL's, not Caddy placeholders.
	for _, f := range mappingFields {
		opts = append(opts, provider.Option{Name: f.name, Kind: provider.KindString, Literal: true,
			Parse: checkMapping(f.name, f.result), Doc: f.doc + "; default " + f.def})
	}
	return &provider.Spec{
		Name:    Name,
		Summary: "any Standard Webhooks sender (webhook-signature v1 HMAC or v1a Ed25519), fields mapped with CEL",
		Options: opts,
		Check:   check,
		Build:   build,
		Sandbox: sandboxSpec(),
	}
}

func check(v provider.Values) error {
	switch {
	case !v.Has("secret") && !v.Has("public_key"):
		return errors.New("secret (v1) or public_key (v1a) is required")
	case v.Has("secret") && v.Has("public_key"):
		return errors.New("secret and public_key exclude each other: a v1a receiver must not accept what a shared secret can sign")
	}
	return nil
}

func build(env *provider.Env) (provider.Built, error) {
	var c Config
	for _, s := range env.List("secret") {
		k, err := stdwebhook.ParseSecret(s)
		if err != nil {
			return provider.Built{}, errors.New("secret: " + err.Error())
		}
		c.Secrets = append(c.Secrets, k)
	}
	for _, s := range env.List("public_key") {
		k, err := ParsePublicKey(s)
		if err != nil {
			return provider.Built{}, errors.New("public_key: " + err.Error())
		}
		c.PublicKeys = append(c.PublicKeys, k)
	}
	c.Mappings = map[string]string{}
	for _, f := range mappingFields {
		if s := env.String(f.name); s != "" {
			c.Mappings[f.name] = s
		}
	}
	p, err := New(c)
	if err != nil {
		return provider.Built{}, err
	}
	// The standard defines no query API: no Querier.
	return provider.Built{Provider: p}, nil
}

func parseSecret(b []byte) error {
	_, err := stdwebhook.ParseSecret(string(b))
	return err
}

func parsePublicKey(b []byte) error {
	_, err := ParsePublicKey(string(b))
	return err
}

// ParsePublicKey reads a v1a public key as the spec serializes it (whpk_ +
// base64 of the 32 raw bytes, or that base64 alone), or as PEM or base64
// DER SPKI like every other payguard key option, Ed25519 only.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	k, err := stdwebhook.ParsePublicKey(s)
	if err == nil {
		return k, nil
	}
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, stdwebhook.PublicKeyPrefix) || strings.HasPrefix(t, stdwebhook.SecretPrefix) || strings.HasPrefix(t, stdwebhook.PrivateKeyPrefix) {
		return nil, err
	}
	pk, perr := keys.ParsePublicKey([]byte(t))
	if perr != nil {
		return nil, err // the spec's format is what most operators paste
	}
	ek, ok := pk.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key (v1a is Ed25519 only)")
	}
	return ek, nil
}
