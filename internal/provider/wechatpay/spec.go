package wechatpay

import (
	"errors"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
)

func init() {
	provider.Register(V3Spec)
	provider.Register(V2Spec)
}

// V3Spec declares the wechatpay_v3 provider. The signed-timestamp window of
// notifications is the handler's tolerance, which also bounds the signed
// timestamp of query answers.
var V3Spec = &provider.Spec{
	Recoverable:    true,
	MerchantOption: "mch_id",
	Name:           V3Name,
	Summary:        "WeChat Pay API v3: RSA-signed, AES-GCM encrypted JSON notifications (platform certificates or public key), order query",
	Options: []provider.Option{
		{Name: "mch_id", Kind: provider.KindString, Required: true, Doc: "the merchant number every notification must be addressed to"},
		{Name: "app_id", Kind: provider.KindString, Doc: "when set, must equal the appid of notifications carrying one"},
		{Name: "api_v3_key", Kind: provider.KindSecret, Required: true, Parse: CheckAPIv3Key, Doc: "the APIv3 key that decrypts resources (32 bytes)"},
		{Name: "platform_cert_file", JSON: "platform_cert_files", Kind: provider.KindFiles, Parse: provider.ParseCheck(ParsePlatformCerts), Doc: "platform certificate files, chosen by Wechatpay-Serial"},
		{Name: "public_key_id", Kind: provider.KindString, Parse: CheckPublicKeyID, Doc: "PUB_KEY_ID_... (public-key mode)"},
		{Name: "public_key", Kind: provider.KindSecret, Parse: provider.ParseCheck(keys.ParseRSAPublicKey), Doc: "WeChat Pay's public key (public-key mode)"},
		{Name: "merchant_serial", Kind: provider.KindString, Query: true, Doc: "the merchant API certificate's serial"},
		{Name: "private_key", Kind: provider.KindSecret, Query: true, Parse: provider.ParseCheck(parseRSA2048PrivateKey), Doc: "the merchant API private key that signs queries"},
	},
	Check:   checkV3Options,
	Build:   buildV3,
	Sandbox: v3SandboxSpec,
}

// V2Spec declares the wechatpay_v2 provider. Its query signs with the API
// key, so it is on unless `query off` says otherwise.
var V2Spec = &provider.Spec{
	Recoverable:    true,
	MerchantOption: "mch_id",
	Name:           V2Name,
	Summary:        "WeChat Pay API v2: XML payment and refund notices (MD5 or HMAC-SHA256), orderquery",
	Options: []provider.Option{
		{Name: "mch_id", Kind: provider.KindString, Required: true, Doc: "the merchant number"},
		{Name: "app_id", Kind: provider.KindString, Required: true, Doc: "the app id"},
		{Name: "api_key", Kind: provider.KindSecret, Required: true, Parse: CheckAPIKey, Doc: "the v2 API key (32 bytes)"},
		{Name: "sign_type", Kind: provider.KindEnum, Values: []string{SignTypeMD5, SignTypeHMACSHA256}, Doc: "MD5 (default) or HMAC-SHA256; a notice naming another is refused"},
	},
	Build:   buildV2,
	Sandbox: v2SandboxSpec,
}

func checkV3Options(v provider.Values) error {
	switch {
	case v.Has("public_key") != v.Has("public_key_id"):
		return errors.New("public_key_id and public_key[_file] go together (public-key mode)")
	case !v.Has("platform_cert_files") && !v.Has("public_key"):
		return errors.New("the WeChat Pay key is required: platform_cert_file, or public_key_id and public_key[_file] (both are allowed together while WeChat migrates the merchant)")
	case v.Has("private_key") != v.Has("merchant_serial"):
		return errors.New("the query needs both merchant_serial and private_key[_file]")
	}
	return nil
}

func buildV3(env *provider.Env) (provider.Built, error) {
	p, err := NewV3(V3Config{
		MchID: env.String("mch_id"), AppID: env.String("app_id"), APIv3Key: env.Bytes("api_v3_key"),
		PlatformCerts: env.Files("platform_cert_file"),
		PublicKeyID:   env.String("public_key_id"), PublicKey: env.Bytes("public_key"),
		MerchantSerial: env.String("merchant_serial"), PrivateKey: env.Bytes("private_key"),
		Endpoint: env.QueryEndpoint, HTTPClient: env.HTTPClient, Now: env.Now, Tolerance: env.Tolerance,
	})
	if err != nil {
		return provider.Built{}, err
	}
	return provider.SelfQuerying(p, p.CanQuery()), nil
}

func buildV2(env *provider.Env) (provider.Built, error) {
	p, err := NewV2(V2Config{
		MchID: env.String("mch_id"), AppID: env.String("app_id"), APIKey: env.Bytes("api_key"),
		SignType: env.String("sign_type"), Endpoint: env.QueryEndpoint, HTTPClient: env.HTTPClient,
	})
	if err != nil {
		return provider.Built{}, err
	}
	return provider.Built{Provider: p, Querier: p}, nil
}
