package pingpp

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/provider"
)

func writePublicKey(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pingpp_public.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpecOptions(t *testing.T) {
	spec, _ := provider.Lookup(Name)
	pub := writePublicKey(t)
	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not a key"), 0o644)
	for name, c := range map[string]struct {
		v    provider.Values
		want string // error substring; "" is success
	}{
		"file key":                {provider.Values{"public_key_file": {pub}}, ""},
		"no key":                  {provider.Values{}, "public_key (or public_key_file) is required"},
		"not a key":               {provider.Values{"public_key_file": {bad}}, "public_key_file"},
		"private key without api": {provider.Values{"public_key_file": {pub}, "private_key": {"x"}}, "needs api_key"},
		"unknown option":          {provider.Values{"public_key_file": {pub}, "sign_type": {"RSA"}}, "unknown option"},
		"query without a private": {provider.Values{"public_key_file": {pub}, "api_key": {"sk_live_1"}}, ""},
	} {
		env, err := spec.Resolve(c.v, nil, provider.Settings{})
		if err == nil {
			var built provider.Built
			built, err = spec.Build(env)
			if err == nil && c.v.Has("api_key") && built.Querier == nil {
				t.Errorf("%s: api_key configured but no querier", name)
			}
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
