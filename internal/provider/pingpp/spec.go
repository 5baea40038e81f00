package pingpp

import (
	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
)

func init() {
	provider.Register(&provider.Spec{
		Name:    Name,
		Summary: "Ping++ webhooks (RSA-SHA256 over the body) and the charge retrieve API",
		Options: []provider.Option{
			{
				Name: "public_key", Kind: provider.KindSecret, Required: true,
				Parse: provider.ParseCheck(keys.ParseRSAPublicKey),
				Doc:   "the Ping++ public key of the dashboard (PEM or bare base64 DER) that webhooks verify with",
			},
			{
				Name: "app_id", Kind: provider.KindString,
				Doc: "optional: the Ping++ app (app_...) this route is for; events of the account's other apps are refused",
			},
			{
				Name: "api_key", Kind: provider.KindSecret, Query: true,
				Doc: "the secret key (sk_live_...) the charge query authenticates with; enables the query",
			},
			{
				Name: "private_key", Kind: provider.KindSecret, Query: true,
				Parse: provider.ParseCheck(keys.ParseRSAPrivateKey),
				Doc:   "optional: the merchant RSA private key, when request signing is on in the dashboard",
			},
		},
		Check: func(v provider.Values) error {
			if v.Has("private_key") && !v.Has("api_key") {
				return errPrivateKeyAlone
			}
			return nil
		},
		Build:   build,
		Sandbox: sandboxSpec,
	})
}

func build(env *provider.Env) (provider.Built, error) {
	pub, err := keys.ParseRSAPublicKey(env.Bytes("public_key"))
	if err != nil {
		return provider.Built{}, err
	}
	p, err := New(Config{PublicKey: pub, AppID: env.String("app_id")})
	if err != nil {
		return provider.Built{}, err
	}
	built := provider.Built{Provider: p}
	if key := env.Bytes("api_key"); len(key) > 0 {
		qc := QueryConfig{APIKey: key, Endpoint: env.QueryEndpoint, HTTPClient: env.HTTPClient, Now: env.Now}
		if pk := env.Bytes("private_key"); len(pk) > 0 {
			if qc.PrivateKey, err = keys.ParseRSAPrivateKey(pk); err != nil {
				return provider.Built{}, err
			}
		}
		q, err := NewQuerier(qc)
		if err != nil {
			return provider.Built{}, err
		}
		built.Querier = q
	}
	return built, nil
}
