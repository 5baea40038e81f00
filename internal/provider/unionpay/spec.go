package unionpay

import (
	"errors"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
)

func init() { provider.Register(Spec) }

// Spec declares the unionpay provider: its options (DESIGN.md section 3),
// their pairing rules, how it is built, and its simulator part.
var Spec = &provider.Spec{
	Name:           Name,
	Recoverable:    true,
	MerchantOption: "mer_id",
	Summary:        "China UnionPay online gateway (ACP 5.1.0, signMethod 01)",
	Options: []provider.Option{
		{Name: "mer_id", Kind: provider.KindString, Required: true, Parse: CheckMerID,
			Doc: "the merchant number (merId); notifications for another merchant are refused"},
		{Name: "root_cert_file", Kind: provider.KindFile, Required: true, Parse: provider.ParseCheck(parseCAs),
			Doc: "UnionPay's root certificate (acp_prod_root.cer)"},
		{Name: "middle_cert_file", Kind: provider.KindFile, Required: true, Parse: provider.ParseCheck(parseCAs),
			Doc: "UnionPay's middle certificate (acp_prod_middle.cer); signPubKeyCert must chain through it to the root"},
		{Name: "sign_cert_file", Kind: provider.KindFile, Query: true, Parse: checkPKCS12Shape,
			Doc: "the merchant's PKCS#12 signing certificate (.pfx); certId is its serial"},
		{Name: "sign_cert_password", Kind: provider.KindSecret, Query: true,
			Doc: "the password of sign_cert_file"},
		{Name: "private_key", Kind: provider.KindSecret, Query: true, Parse: provider.ParseCheck(keys.ParseRSAPrivateKey),
			Doc: "instead of sign_cert_file: the merchant's signing key as PEM"},
		{Name: "cert_id", Kind: provider.KindString, Query: true, Parse: CheckCertID,
			Doc: "with private_key: the decimal serial of the merchant's signing certificate"},
	},
	Check:   checkValues,
	Build:   build,
	Sandbox: sandboxSpec,
}

// checkValues applies the pairing rules of the query credentials.
func checkValues(v provider.Values) error {
	p12 := v.Has("sign_cert_file") || v.Has("sign_cert_password")
	pemKey := v.Has("private_key") || v.Has("cert_id")
	switch {
	case p12 && pemKey:
		return errors.New("query: either sign_cert_file with sign_cert_password, or private_key with cert_id, not both")
	case p12 && !(v.Has("sign_cert_file") && v.Has("sign_cert_password")):
		return errors.New("query: sign_cert_file and sign_cert_password go together")
	case pemKey && !(v.Has("private_key") && v.Has("cert_id")):
		return errors.New("query: private_key (or private_key_file) and cert_id go together")
	}
	return nil
}

func build(env *provider.Env) (provider.Built, error) {
	p, err := New(Config{
		MerID:            env.String("mer_id"),
		RootCert:         env.Bytes("root_cert_file"),
		MiddleCert:       env.Bytes("middle_cert_file"),
		SignCert:         env.Bytes("sign_cert_file"),
		SignCertPassword: env.Bytes("sign_cert_password"),
		PrivateKey:       env.Bytes("private_key"),
		CertID:           env.String("cert_id"),
		Endpoint:         env.QueryEndpoint,
		HTTPClient:       env.HTTPClient,
		Now:              env.Now,
		Warn:             env.Warn,
	})
	if err != nil {
		return provider.Built{}, err
	}
	return provider.SelfQuerying(p, p.CanQuery()), nil
}

// checkPKCS12Shape checks what can be checked without the password: a DER
// SEQUENCE, as every PKCS#12 file is.
func checkPKCS12Shape(b []byte) error {
	if len(b) < 2 || b[0] != 0x30 {
		return errors.New("not a PKCS#12 (.pfx) file")
	}
	return nil
}
