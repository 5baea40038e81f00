package appstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
)

func init() {
	provider.Register(&provider.Spec{
		Name:    Name,
		Summary: "Apple App Store Server Notifications V2 (JWS, x5c chain to Apple Root CA - G3), Get Transaction Info",
		Options: options,
		Check:   checkOptions,
		Build:   build,
		Sandbox: sandboxSpec,
	})
}

// options is the provider's option table (DESIGN.md section 3).
var options = []provider.Option{
	{
		Name: "bundle_id", Kind: provider.KindString, Required: true,
		Doc: "the app's bundle identifier; every notification and transaction must name it",
	},
	{
		// Required, as in Apple's own libraries: a Sandbox purchase costs
		// nothing, so which one a route accepts is the operator's choice,
		// never a default.
		Name: "environment", Kind: provider.KindEnum, Required: true,
		Values: []string{EnvProduction, EnvSandbox},
		Doc:    "Production or Sandbox; notifications for the other are refused",
	},
	{
		Name: "root_cert_file", Kind: provider.KindFiles, Parse: provider.ParseCheck(keys.ParseCertificates),
		Doc: "pinned root certificates replacing the shipped Apple Root CA - G3 (tests, the simulator)",
	},
	{
		Name: "issuer_id", Kind: provider.KindString, Query: true,
		Doc: "App Store Connect issuer id of the In-App Purchase key",
	},
	{
		Name: "key_id", Kind: provider.KindString, Query: true,
		Doc: "the In-App Purchase key's id",
	},
	{
		Name: "private_key", Kind: provider.KindSecret, Query: true, Parse: provider.ParseCheck(parsePrivateKey),
		Doc: "the In-App Purchase key (.p8, ES256), inline or as private_key_file",
	},
}

// checkOptions: the query needs its three credentials together.
func checkOptions(v provider.Values) error {
	n := 0
	for _, k := range []string{"issuer_id", "key_id", "private_key"} {
		if v.Has(k) {
			n++
		}
	}
	if n != 0 && n != 3 {
		return errors.New("query: issuer_id, key_id and private_key_file go together")
	}
	return nil
}

func build(env *provider.Env) (provider.Built, error) {
	var roots []*x509.Certificate
	for _, f := range env.Files("root_cert_file") {
		certs, err := keys.ParseCertificates(f)
		if err != nil {
			return provider.Built{}, errors.New("root_cert_file: " + err.Error())
		}
		roots = append(roots, certs...)
	}
	cfg := Config{BundleID: env.String("bundle_id"), Environment: env.String("environment"), Roots: roots}
	p, err := New(cfg)
	if err != nil {
		return provider.Built{}, err
	}
	if len(roots) > 0 && cfg.Environment == EnvProduction && !holdsAppleRoot(roots) {
		env.Warn("appstore: root_cert_file replaces Apple Root CA - G3; Apple's own notifications will not verify")
	}
	built := provider.Built{Provider: p}
	if env.String("issuer_id") == "" {
		return built, nil
	}
	key, err := parsePrivateKey(env.Bytes("private_key"))
	if err != nil {
		return provider.Built{}, errors.New("private_key: " + err.Error())
	}
	q, err := NewQuerier(cfg, QueryConfig{
		IssuerID: env.String("issuer_id"), KeyID: env.String("key_id"), PrivateKey: key,
		Endpoint: env.QueryEndpoint, HTTPClient: env.HTTPClient, Now: env.Now,
	})
	if err != nil {
		return provider.Built{}, err
	}
	built.Querier = q
	return built, nil
}

func holdsAppleRoot(roots []*x509.Certificate) bool {
	g3 := AppleRootCAG3()
	for _, r := range roots {
		if r.Equal(g3) {
			return true
		}
	}
	return false
}

// parsePrivateKey reads the App Store Connect key: a PKCS#8 P-256 key, as
// App Store Connect hands out in its .p8 file (PEM, or bare base64 DER).
func parsePrivateKey(b []byte) (*ecdsa.PrivateKey, error) {
	k, err := keys.ParsePrivateKey(b) // its errors never echo key bytes
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key (App Store Connect .p8)")
	}
	return ek, nil
}
