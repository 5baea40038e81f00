package generic

import (
	"errors"
	"fmt"
	"strings"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider"
)

func init() {
	provider.Register(&provider.Spec{
		Name:    SpecName,
		Summary: "a partner's own signature scheme, described in the block (name, format, signature, algorithm, message, CEL field mappings)",
		Options: options(),
		Check:   checkValues,
		Build:   build,
		Sandbox: sandboxSpec,
	})
}

// options is the option table. Several secrets or keys (rotation) do not
// fit KindSecret, which holds one value: `secret` and `public_key` are
// lists of inline values and their `_file` twins lists of files, all of
// them tried. Options whose syntax has braces ({secret}, CEL map
// literals) are Literal, so no placeholder replacer touches them.
func options() []provider.Option {
	opts := []provider.Option{
		// JSON partner_name: Caddy strips the inline key "name" that selects the module.
		{Name: "name", JSON: "partner_name", Kind: provider.KindString, Required: true, Parse: parseName,
			Doc: "the partner's name: what Payguard-Provider, metrics and store keys show"},
		{Name: "format", Kind: provider.KindEnum, Required: true, Values: []string{formatForm, formatJSON, formatXML, formatRaw},
			Doc: "how the body is parsed"},
		{Name: "signature", Kind: provider.KindList, Required: true,
			Doc: "where the signature is: header <name> or field <name>"},
		{Name: "encoding", Kind: provider.KindEnum, Required: true, Values: []string{"base64", "hex"},
			Doc: "the signature's encoding (hex in either case)"},
		{Name: "algorithm", Kind: provider.KindEnum, Required: true,
			Values: []string{AlgHMACSHA256, AlgHMACSHA1, AlgMD5WithKey, AlgRSASHA256, AlgRSASHA1, AlgEd25519},
			Doc:    "the one algorithm accepted; md5-with-key, hmac-sha1 and rsa-sha1 are weak (a warning at start)"},
		{Name: "secret", Kind: provider.KindList, Doc: "HMAC or md5 secrets, several for rotation"},
		{Name: "secret_file", Kind: provider.KindFiles, Doc: "files holding one secret each"},
		{Name: "public_key", Kind: provider.KindList, Parse: provider.ParseCheck(keys.ParsePublicKey), Doc: "RSA or Ed25519 public keys (PEM or base64 DER), several for rotation"},
		{Name: "public_key_file", Kind: provider.KindFiles, Parse: provider.ParseCheck(keys.ParsePublicKey), Doc: "files holding one public key each"},
		{Name: "message", Kind: provider.KindList, Required: true, Literal: true,
			Doc: "what is signed: raw, sorted_fields, or concat <field|{secret}|{body}|{timestamp}|{nonce}>..."},
		{Name: "separator", Kind: provider.KindString, Literal: true, Doc: "joins message concat's elements (default none)"},
		{Name: "key_suffix", Kind: provider.KindString, Literal: true, Doc: "appended to the message, {secret} replaced: \"&key={secret}\""},
		{Name: "empty_fields", Kind: provider.KindEnum, Values: []string{"skip", "sign"}, Doc: "sorted_fields: leave empty fields out (default) or sign them"},
		{Name: "exclude_fields", Kind: provider.KindList, Doc: "sorted_fields: fields the partner does not sign besides the signature"},
		{Name: "timestamp", Kind: provider.KindList, Doc: "header <name> | field <name> [unix|unix_ms|rfc3339]: a signed send time, held to tolerance"},
		{Name: "nonce", Kind: provider.KindList, Doc: "header <name> | field <name>: a signed value unique per delivery"},
		{Name: "ack_success", Kind: provider.KindString, Literal: true, Doc: "body of the success acknowledgement (default \"success\")"},
		{Name: "ack_failure", Kind: provider.KindString, Literal: true, Doc: "body of a refusal (default \"fail\")"},
	}
	for _, m := range mappingSpecs {
		opts = append(opts, provider.Option{
			Name: m.name, Kind: provider.KindString, Required: m.required, Literal: true,
			Parse: func(b []byte) error { _, err := policy.CompileMapping(m.name, string(b), m.result); return err },
			Doc:   "CEL over body, fields and headers: " + m.doc,
		})
	}
	return opts
}

func parseName(b []byte) error {
	name := string(b)
	if err := checkName(name); err != nil {
		return err
	}
	if _, taken := provider.Lookup(name); taken && name != SpecName {
		return fmt.Errorf("name %s is a provider of its own; a partner's name must not share its metrics and store keys", name)
	}
	return nil
}

// schemeOf builds the Scheme from option values (adapt-time Values or
// provision-time Env: the same accessors).
func schemeOf(get func(string) string, list func(string) []string) (*Scheme, error) {
	s := &Scheme{
		Format: get("format"), Encoding: get("encoding"), Algorithm: get("algorithm"),
		Separator: get("separator"), KeySuffix: get("key_suffix"),
		SignEmpty: get("empty_fields") == "sign", Exclude: list("exclude_fields"),
	}
	sig, err := location("signature", list("signature"), false)
	if err != nil {
		return nil, err
	}
	s.Signature = *sig
	msg := list("message")
	if len(msg) == 0 {
		return nil, errors.New("message is required")
	}
	s.Message, s.Parts = msg[0], msg[1:]
	if s.Message != MessageConcat && len(s.Parts) > 0 {
		return nil, fmt.Errorf("message %s takes no arguments", s.Message)
	}
	if ts := list("timestamp"); len(ts) > 0 {
		if s.Timestamp, err = location("timestamp", ts, true); err != nil {
			return nil, err
		}
		if len(ts) == 3 {
			s.TimestampFormat = ts[2]
		}
	}
	if n := list("nonce"); len(n) > 0 {
		if s.Nonce, err = location("nonce", n, false); err != nil {
			return nil, err
		}
	}
	return s, s.Check()
}

// location reads `header <name>` or `field <name>` (and, for timestamp,
// an optional format word).
func location(opt string, args []string, format bool) (*Location, error) {
	max := 2
	if format {
		max = 3
	}
	if len(args) < 2 || len(args) > max || (args[0] != "header" && args[0] != "field") || args[1] == "" {
		return nil, fmt.Errorf("%s must be `header <name>` or `field <name>`", opt)
	}
	return &Location{Header: args[0] == "header", Name: args[1]}, nil
}

// checkValues applies the scheme's rules while adapting, unless a value
// they read holds a placeholder (then provision checks).
func checkValues(v provider.Values) error {
	for _, k := range []string{"format", "encoding", "algorithm", "signature", "timestamp", "nonce", "exclude_fields", "empty_fields"} {
		for _, a := range v[k] {
			if provider.HasPlaceholder(a) {
				return nil
			}
		}
	}
	s, err := schemeOf(v.Get, func(k string) []string { return v[k] })
	if err != nil {
		return err
	}
	secrets := v.Has("secret") || v.Has("secret_file")
	pubs := v.Has("public_key") || v.Has("public_key_file")
	switch {
	case s.asymmetric() && (secrets || !pubs):
		return fmt.Errorf("%s verifies with public_key (or public_key_file), and takes no secret", s.Algorithm)
	case !s.asymmetric() && (pubs || !secrets):
		return fmt.Errorf("%s verifies with secret (or secret_file), and takes no public_key", s.Algorithm)
	}
	return nil
}

func build(env *provider.Env) (provider.Built, error) {
	s, err := schemeOf(env.String, env.List)
	if err != nil {
		return provider.Built{}, err
	}
	cfg := Config{Name: env.String("name"), Scheme: *s, Mappings: map[string]string{},
		AckSuccess: env.String("ack_success"), AckFailure: env.String("ack_failure")}
	for _, v := range env.List("secret") {
		cfg.Secrets = append(cfg.Secrets, []byte(v))
	}
	for i, b := range env.Files("secret_file") {
		if strings.HasSuffix(string(b), "\n") || strings.HasSuffix(string(b), "\r") {
			return provider.Built{}, fmt.Errorf("secret_file %d ends with a line break, which would be part of the secret: write the file without it", i+1)
		}
		cfg.Secrets = append(cfg.Secrets, b)
	}
	pems := append(stringsToBytes(env.List("public_key")), env.Files("public_key_file")...)
	for _, b := range pems {
		k, err := keys.ParsePublicKey(b)
		if err != nil {
			return provider.Built{}, err
		}
		cfg.PublicKeys = append(cfg.PublicKeys, k)
	}
	for _, m := range mappingSpecs {
		if src := env.String(m.name); src != "" {
			cfg.Mappings[m.name] = src
		}
	}
	p, err := New(cfg)
	if err != nil {
		return provider.Built{}, err
	}
	if why := p.Weakness(); why != "" {
		env.Warn(fmt.Sprintf("generic %s: algorithm %s is weak (%s); accepted for this partner's compatibility only", p.name, s.Algorithm, why))
	}
	if s.Timestamp == nil && s.Nonce == nil {
		env.Warn(fmt.Sprintf("generic %s: the partner signs no timestamp or nonce, so a replay is stopped by its event id alone, for dedup_ttl", p.name))
	}
	return provider.Built{Provider: p}, nil
}

func stringsToBytes(in []string) [][]byte {
	out := make([][]byte, len(in))
	for i, s := range in {
		out[i] = []byte(s)
	}
	return out
}
