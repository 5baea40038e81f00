package appstore

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
)

func resolveAndBuild(t *testing.T, v provider.Values, warn func(string)) (provider.Built, error) {
	t.Helper()
	spec, ok := provider.Lookup(Name)
	if !ok || spec.Sandbox == nil {
		t.Fatal("appstore is not registered with a sandbox")
	}
	env, err := spec.Resolve(v, nil, provider.Settings{Warn: warn})
	if err != nil {
		return provider.Built{}, err
	}
	return spec.Build(env)
}

func TestSpecOptions(t *testing.T) {
	dir := providertest.KeyDir(t, Name)
	root, p8 := dir.Path(sandboxRootFile), dir.Path(sandboxAPIKeyFile)
	tmp := t.TempDir()
	notCert := filepath.Join(tmp, "not.pem")
	if err := os.WriteFile(notCert, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaFile := filepath.Join(tmp, "rsa.p8")
	if err := os.WriteFile(rsaFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(extra provider.Values) provider.Values {
		v := provider.Values{"bundle_id": {"com.example.shop"}, "environment": {"Sandbox"}, "root_cert_file": {root}}
		for k, a := range extra {
			if a == nil {
				delete(v, k)
			} else {
				v[k] = a
			}
		}
		return v
	}
	query := provider.Values{"issuer_id": {"issuer"}, "key_id": {"KEY1"}, "private_key_file": {p8}}
	for name, c := range map[string]struct {
		v    provider.Values
		want string
	}{
		"no bundle_id":          {base(provider.Values{"bundle_id": nil}), "bundle_id is required"},
		"no environment":        {base(provider.Values{"environment": nil}), "environment is required"},
		"environment Xcode":     {base(provider.Values{"environment": {"Xcode"}}), "environment must be"},
		"root not a cert":       {base(provider.Values{"root_cert_file": {notCert}}), "root_cert_file"},
		"root unreadable":       {base(provider.Values{"root_cert_file": {filepath.Join(tmp, "absent.pem")}}), "cannot read"},
		"issuer_id alone":       {base(provider.Values{"issuer_id": {"issuer"}}), "go together"},
		"no private key":        {base(provider.Values{"issuer_id": {"i"}, "key_id": {"k"}}), "go together"},
		"RSA private key":       {base(provider.Values{"issuer_id": {"i"}, "key_id": {"k"}, "private_key_file": {rsaFile}}), "P-256"},
		"private key both ways": {base(provider.Values{"issuer_id": {"i"}, "key_id": {"k"}, "private_key": {"x"}, "private_key_file": {p8}}), "both set"},
		"unknown option":        {base(provider.Values{"app_id": {"x"}}), "unknown option"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := resolveAndBuild(t, c.v, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v; want %q", err, c.want)
			}
		})
	}
	built, err := resolveAndBuild(t, base(nil), nil)
	if err != nil || built.Querier != nil || built.Provider.Name() != Name {
		t.Fatalf("without query credentials: %+v, %v", built, err)
	}
	built, err = resolveAndBuild(t, base(query), nil)
	if err != nil || built.Querier == nil {
		t.Fatalf("with query credentials: %+v, %v", built, err)
	}
	if q := built.Querier.(*Querier); q.endpoint != SandboxAPI {
		t.Fatalf("sandbox endpoint %s", q.endpoint)
	}
}

func TestSpecWarnsWhenProductionDoesNotTrustApple(t *testing.T) {
	root := providertest.KeyDir(t, Name).Path(sandboxRootFile)
	var warned []string
	warn := func(m string) { warned = append(warned, m) }
	if _, err := resolveAndBuild(t, provider.Values{"bundle_id": {"b"}, "environment": {"Production"}, "root_cert_file": {root}}, warn); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "Apple Root CA - G3") {
		t.Fatalf("warnings %q", warned)
	}
	warned = nil
	if _, err := resolveAndBuild(t, provider.Values{"bundle_id": {"b"}, "environment": {"Production"}}, warn); err != nil || len(warned) != 0 {
		t.Fatalf("shipped root: %v, warnings %q", err, warned)
	}
}
