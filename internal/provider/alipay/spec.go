package alipay

import (
	"errors"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
)

func init() { provider.Register(Spec) }

// Spec declares the alipay provider: its options (DESIGN.md section 3),
// their rules, and how the provider is built.
var Spec = &provider.Spec{
	Name:           Name,
	Recoverable:    true,
	MerchantOption: "app_id",
	Summary:        "Alipay Open Platform: async notify (RSA2, public-key or certificate mode), browser return, alipay.trade.query",
	Options: []provider.Option{
		{Name: "app_id", Kind: provider.KindString, Required: true, Doc: "the app every notification must be addressed to"},
		{Name: "seller_id", Kind: provider.KindString, Doc: "when set, seller_id must equal it"},
		{Name: "public_key", Kind: provider.KindSecret, Parse: provider.ParseCheck(keys.ParseRSAPublicKey), Doc: "the Alipay public key (public-key mode), PEM or the console's bare base64"},
		{Name: "cert_file", Kind: provider.KindFile, Parse: provider.ParseCheck(keys.ParseCertificates), Doc: "alipayCertPublicKey_RSA2.crt (certificate mode)"},
		{Name: "root_cert_file", Kind: provider.KindFile, Parse: provider.ParseCheck(keys.ParseCertificates), Doc: "alipayRootCert.crt (certificate mode)"},
		{Name: "sign_type", Kind: provider.KindEnum, Values: []string{SignTypeRSA2, SignTypeRSA}, Doc: "RSA2 (default) or RSA (SHA-1, legacy apps only)"},
		{Name: "mode", Kind: provider.KindEnum, Values: []string{ModeNotify, ModeReturn}, Doc: "notify (default: async POST) or return (the browser's GET)"},
		{Name: "private_key", Kind: provider.KindSecret, Query: true, Parse: provider.ParseCheck(keys.ParseRSAPrivateKey), Doc: "the app private key that signs alipay.trade.query"},
		{Name: "app_cert_file", Kind: provider.KindFile, Query: true, Parse: provider.ParseCheck(keys.ParseCertificates), Doc: "the app public certificate (certificate mode)"},
	},
	Check:   checkOptions,
	Build:   build,
	Sandbox: sandboxSpec,
}

func checkOptions(v provider.Values) error {
	pub := v.Has("public_key")
	cert := v.Has("cert_file") || v.Has("root_cert_file")
	switch {
	case pub && cert:
		return errors.New("public_key and cert_file are both set; choose public-key or certificate mode")
	case !pub && !cert:
		return errors.New("the Alipay key is required: public_key[_file], or cert_file and root_cert_file")
	case cert && (!v.Has("cert_file") || !v.Has("root_cert_file")):
		return errors.New("certificate mode needs both cert_file and root_cert_file")
	}
	return nil
}

func build(env *provider.Env) (provider.Built, error) {
	p, err := New(Config{
		AppID:      env.String("app_id"),
		SellerID:   env.String("seller_id"),
		PublicKey:  env.Bytes("public_key"),
		Cert:       env.Bytes("cert_file"),
		RootCert:   env.Bytes("root_cert_file"),
		SignType:   env.String("sign_type"),
		Mode:       env.String("mode"),
		PrivateKey: env.Bytes("private_key"),
		AppCert:    env.Bytes("app_cert_file"),
		Endpoint:   env.QueryEndpoint,
		HTTPClient: env.HTTPClient,
		Now:        env.Now,
	})
	if err != nil {
		return provider.Built{}, err
	}
	return provider.SelfQuerying(p, p.CanQuery()), nil
}
