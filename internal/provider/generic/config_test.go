package generic

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/provider"
)

// A provider of another package, as pingpp or alipay would be in the
// binary: a partner may not borrow its name.
func init() {
	provider.Register(&provider.Spec{Name: "taken_by_another", Build: func(*provider.Env) (provider.Built, error) {
		return provider.Built{}, nil
	}})
}

func baseValues() provider.Values {
	return withMappings(provider.Values{
		"partner_name": {"partner"}, "format": {formatForm}, "signature": {"field", "sign"}, "encoding": {"hex"},
		"algorithm": {AlgHMACSHA256}, "secret": {"s"}, "message": {MessageSortedFields},
	})
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	newline := filepath.Join(dir, "newline.key")
	_ = os.WriteFile(newline, []byte("secret\n"), 0o600)
	_, _, pub := keyFor(t, AlgRSASHA256)
	_, _, edPub := keyFor(t, AlgEd25519)
	for name, c := range map[string]struct {
		set  provider.Values
		del  []string
		want string
	}{
		"no name":                 {del: []string{"partner_name"}, want: "name is required"},
		"bad name":                {set: provider.Values{"partner_name": {"Partner X"}}, want: "only a-z"},
		"name of a provider":      {set: provider.Values{"partner_name": {"taken_by_another"}}, want: "is a provider of its own"},
		"bad format":              {set: provider.Values{"format": {"yaml"}}, want: "format must be"},
		"bad algorithm":           {set: provider.Values{"algorithm": {"md5"}}, want: "algorithm must be"},
		"signature one word":      {set: provider.Values{"signature": {"sign"}}, want: "signature must be"},
		"signature in a raw body": {set: provider.Values{"format": {formatRaw}, "message": {MessageRaw}}, want: "a raw body has no fields"},
		"raw with field sig":      {set: provider.Values{"format": {formatJSON}, "message": {MessageRaw}}, want: "message raw signs the whole body"},
		"unknown message":         {set: provider.Values{"message": {"sorted"}}, want: "message must be"},
		"raw with arguments":      {set: provider.Values{"message": {"raw", "x"}}, want: "takes no arguments"},
		"concat of nothing":       {set: provider.Values{"message": {"concat"}}, want: "concat needs"},
		"concat unknown token":    {set: provider.Values{"message": {"concat", "a", "{key}"}}, want: "is not {secret}"},
		"concat of the sign":      {set: provider.Values{"message": {"concat", "a", "sign"}}, want: "signature field itself"},
		"concat {timestamp}":      {set: provider.Values{"message": {"concat", "a", "{timestamp}"}}, want: "no timestamp is configured"},
		"keyless md5":             {set: provider.Values{"algorithm": {AlgMD5WithKey}}, want: "md5-with-key needs the secret"},
		"secret in rsa":           {set: provider.Values{"algorithm": {AlgRSASHA256}, "secret": nil, "public_key": pub["public_key"], "key_suffix": {"&key={secret}"}}, want: "{secret} has no meaning"},
		"rsa with a secret":       {set: provider.Values{"algorithm": {AlgRSASHA256}}, want: "verifies with public_key"},
		"hmac with a key":         {set: provider.Values{"secret": nil, "public_key": pub["public_key"]}, want: "verifies with secret"},
		"no secret":               {del: []string{"secret"}, want: "verifies with secret"},
		"ed25519 with rsa key":    {set: provider.Values{"algorithm": {AlgEd25519}, "secret": nil, "public_key": pub["public_key"]}, want: "needs Ed25519 public keys"},
		"rsa with ed25519 key":    {set: provider.Values{"algorithm": {AlgRSASHA1}, "secret": nil, "public_key": edPub["public_key"]}, want: "needs RSA public keys"},
		"bad public key":          {set: provider.Values{"algorithm": {AlgRSASHA256}, "secret": nil, "public_key": {"not a key"}}, want: "public_key"},
		"secret file newline":     {set: provider.Values{"secret": nil, "secret_file": {newline}}, want: "ends with a line break"},
		"missing secret file":     {set: provider.Values{"secret": nil, "secret_file": {filepath.Join(dir, "nope")}}, want: "cannot read"},
		"header ts unsigned":      {set: provider.Values{"timestamp": {"header", "X-Ts"}}, want: "is not covered by the signature"},
		"excluded nonce":          {set: provider.Values{"nonce": {"field", "nonce_str"}, "exclude_fields": {"nonce_str"}}, want: "is not covered"},
		"concat field ts":         {set: provider.Values{"message": {"concat", "a", "{secret}"}, "timestamp": {"field", "ts"}}, want: "is not covered"},
		"ts is the signature":     {set: provider.Values{"timestamp": {"field", "sign"}}, want: "are the same field"},
		"bad ts format":           {set: provider.Values{"timestamp": {"field", "ts", "seconds"}}, want: "timestamp format"},
		"exclude with concat":     {set: provider.Values{"message": {"concat", "a", "{secret}"}, "exclude_fields": {"x"}}, want: "exclude_fields only applies"},
		"bad encoding":            {set: provider.Values{"encoding": {"base32"}}, want: "encoding must be"},
		"cel syntax":              {set: provider.Values{"amount": {"int(fields.amount"}}, want: "amount"},
		"cel type":                {set: provider.Values{"amount": {"fields.amount"}}, want: "amount must yield int"},
		"cel unknown name":        {set: provider.Values{"status": {"notification.status"}}, want: "undeclared reference"},
		"missing mapping":         {del: []string{"event_id"}, want: "event_id is required"},
		"unknown option":          {set: provider.Values{"sign_type": {"MD5"}}, want: "unknown option"},
	} {
		v := baseValues()
		for k, a := range c.set {
			if a == nil {
				delete(v, k)
				continue
			}
			v[k] = a
		}
		for _, k := range c.del {
			delete(v, k)
		}
		_, _, err := buildValues(t, v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "partner-secret") {
			t.Errorf("%s: the error quotes a secret", name)
		}
	}
}

// The adapt-time check (Spec.CheckTable, run by the glue on the
// Caddyfile line) catches the scheme's errors before any file is read.
func TestCheckWhileAdapting(t *testing.T) {
	spec, _ := provider.Lookup(SpecName)
	v := baseValues()
	v["timestamp"] = []string{"header", "X-Ts"}
	if err := spec.CheckTable(v); err == nil || !strings.Contains(err.Error(), "not covered") {
		t.Fatalf("%v", err)
	}
	v["timestamp"] = []string{"header", "{env.TS_HEADER}"}
	if err := spec.CheckTable(v); err != nil {
		t.Fatalf("a placeholder defers the check to provision: %v", err)
	}
	if err := spec.CheckTable(baseValues()); err != nil {
		t.Fatal(err)
	}
}

// Name() is the configured name, not the registry's "generic": that is
// what headers, metrics and store keys show.
func TestNameIsTheConfiguredOne(t *testing.T) {
	p := mustBuild(t, baseValues())
	if p.Name() != "partner" {
		t.Fatalf("Name() = %q", p.Name())
	}
	if spec, _ := provider.Lookup(SpecName); spec.Name != "generic" {
		t.Fatalf("spec name %q", spec.Name)
	}
}

func TestWeakAlgorithmWarning(t *testing.T) {
	for alg, weakAlg := range map[string]bool{AlgHMACSHA256: false, AlgHMACSHA1: true, AlgMD5WithKey: true} {
		v := baseValues()
		v["algorithm"] = []string{alg}
		v["key_suffix"] = []string{"&key={secret}"}
		v["nonce"] = []string{"field", "nonce_str"}
		_, warnings, err := buildValues(t, v)
		if err != nil {
			t.Fatal(err)
		}
		got := len(warnings) == 1 && strings.Contains(warnings[0], "generic partner: algorithm "+alg+" is weak")
		if got != weakAlg || (!weakAlg && len(warnings) != 0) {
			t.Errorf("%s: warnings %q", alg, warnings)
		}
	}
	_, _, kv := keyFor(t, AlgRSASHA1)
	v := baseValues()
	delete(v, "secret")
	v["algorithm"], v["public_key"], v["nonce"] = []string{AlgRSASHA1}, kv["public_key"], []string{"field", "n"}
	if _, warnings, err := buildValues(t, v); err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "rsa-sha1 is weak") {
		t.Errorf("rsa-sha1: %q %v", warnings, err)
	}
}
