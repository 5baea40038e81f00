package caddymodule

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/wechatpay"
)

func init() {
	caddy.RegisterModule(WeChatPayV3{})
	caddy.RegisterModule(WeChatPayV2{})
}

// WeChatPayV3 is the `wechatpay_v3` provider: WeChat Pay API v3
// notifications (RSA-signed headers, AES-GCM encrypted resource), verified
// with platform certificates, with the public key of public-key mode, or
// with both while WeChat migrates a merchant; and the v3 order query.
//
// The signed-timestamp window of notifications is the handler's
// `tolerance`; the window of query answers is the provider's default
// (5 minutes, as WeChat's SDKs).
type WeChatPayV3 struct {
	// MchID is the merchant number every notification must be addressed to.
	MchID string `json:"mch_id,omitempty"`
	// AppID, when set, must equal the appid of notifications carrying one.
	AppID string `json:"app_id,omitempty"`
	// APIv3Key (or the file holding it, no trailing newline) decrypts the
	// resource of notifications: 32 bytes, or a placeholder.
	APIv3Key     string `json:"api_v3_key,omitempty"`
	APIv3KeyFile string `json:"api_v3_key_file,omitempty"`
	// PlatformCertFiles are platform certificate files (several during a
	// rotation; each may hold several certificates), chosen by the
	// Wechatpay-Serial header.
	PlatformCertFiles []string `json:"platform_cert_files,omitempty"`
	// PublicKeyID (PUB_KEY_ID_...) and PublicKey (PEM or bare base64) or
	// PublicKeyFile configure public-key mode.
	PublicKeyID   string `json:"public_key_id,omitempty"`
	PublicKey     string `json:"public_key,omitempty"`
	PublicKeyFile string `json:"public_key_file,omitempty"`
	// Query credentials: the merchant API certificate's serial and its
	// private key.
	MerchantSerial string `json:"merchant_serial,omitempty"`
	PrivateKey     string `json:"private_key,omitempty"`
	PrivateKeyFile string `json:"private_key_file,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (WeChatPayV3) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "payguard.providers." + wechatpay.V3Name,
		New: func() caddy.Module { return new(WeChatPayV3) },
	}
}

// BuildProvider resolves the placeholders, reads the keys and builds the
// provider. Key bytes are handed to the provider, which keeps its own
// parsed copy, and are then cleared here.
func (w *WeChatPayV3) BuildProvider(_ caddy.Context, q QuerySettings) (provider.Provider, provider.Querier, error) {
	repl := caddy.NewReplacer()
	cfg := wechatpay.V3Config{Endpoint: q.Endpoint, HTTPClient: wechatPayHTTPClient(q.Timeout), Tolerance: q.Tolerance}
	defer func() {
		clear(cfg.APIv3Key)
		clear(cfg.PrivateKey)
	}()
	var err error
	for _, f := range []struct {
		opt string
		src string
		dst *string
	}{
		{"mch_id", w.MchID, &cfg.MchID},
		{"app_id", w.AppID, &cfg.AppID},
		{"public_key_id", w.PublicKeyID, &cfg.PublicKeyID},
		{"merchant_serial", w.MerchantSerial, &cfg.MerchantSerial},
	} {
		if *f.dst, err = repl.ReplaceOrErr(f.src, true, true); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", f.opt, err)
		}
	}
	if cfg.APIv3Key, err = loadSecret(repl, "api_v3_key", w.APIv3Key, w.APIv3KeyFile); err != nil {
		return nil, nil, err
	}
	for _, f := range w.PlatformCertFiles {
		b, err := readConfigFile(repl, "platform_cert_file", f)
		if err != nil {
			return nil, nil, err
		}
		cfg.PlatformCerts = append(cfg.PlatformCerts, b)
	}
	if cfg.PublicKey, err = loadSecret(repl, "public_key", w.PublicKey, w.PublicKeyFile); err != nil {
		return nil, nil, err
	}
	if cfg.PrivateKey, err = loadSecret(repl, "private_key", w.PrivateKey, w.PrivateKeyFile); err != nil {
		return nil, nil, err
	}
	p, err := wechatpay.NewV3(cfg)
	if err != nil {
		return nil, nil, err
	}
	return withQuerier(p)
}

// UnmarshalOption takes the WeChat Pay v3 options from the handler's block.
func (w *WeChatPayV3) UnmarshalOption(d *caddyfile.Dispenser, inQuery bool) (bool, error) {
	opt := d.Val()
	if inQuery {
		switch opt {
		case "merchant_serial":
			return true, oneArg(d, &w.MerchantSerial)
		case "private_key", "private_key_file":
			if err := secretOption(d, &w.PrivateKey, &w.PrivateKeyFile, parseRSA2048PrivateKey); err != nil {
				return true, err
			}
		default:
			return false, nil
		}
		return true, nil
	}
	switch opt {
	case "mch_id":
		return true, oneArg(d, &w.MchID)
	case "app_id":
		return true, oneArg(d, &w.AppID)
	case "api_v3_key", "api_v3_key_file":
		if err := secretOption(d, &w.APIv3Key, &w.APIv3KeyFile, checkAPIv3Key); err != nil {
			return true, err
		}
	case "platform_cert_file":
		files := d.RemainingArgs()
		if len(files) == 0 {
			return true, d.ArgErr()
		}
		for _, f := range files {
			if err := checkAtParse(d, opt, f, true, parsePlatformCerts); err != nil {
				return true, err
			}
		}
		w.PlatformCertFiles = files
	case "public_key_id":
		if err := oneArg(d, &w.PublicKeyID); err != nil {
			return true, err
		}
		if !hasPlaceholder(w.PublicKeyID) && !validPublicKeyID(w.PublicKeyID) {
			return true, d.Errf("wechatpay_v3: public_key_id must be %s followed by the id the merchant console shows", wechatpay.PublicKeyIDPrefix)
		}
	case "public_key", "public_key_file":
		if err := secretOption(d, &w.PublicKey, &w.PublicKeyFile, func(b []byte) error {
			_, err := keys.ParseRSAPublicKey(b)
			return err
		}); err != nil {
			return true, err
		}
	default:
		return false, nil
	}
	return true, nil
}

// FinishCaddyfile checks the required options and the ones that go
// together.
func (w *WeChatPayV3) FinishCaddyfile(d *caddyfile.Dispenser) error {
	pubKey := w.PublicKey != "" || w.PublicKeyFile != ""
	privKey := w.PrivateKey != "" || w.PrivateKeyFile != ""
	switch {
	case w.MchID == "":
		return d.Err("wechatpay_v3: mch_id is required")
	case w.APIv3Key != "" && w.APIv3KeyFile != "":
		return d.Err("wechatpay_v3: api_v3_key and api_v3_key_file are both set; use one")
	case w.APIv3Key == "" && w.APIv3KeyFile == "":
		return d.Err("wechatpay_v3: the APIv3 key is required: api_v3_key or api_v3_key_file")
	case w.PublicKey != "" && w.PublicKeyFile != "":
		return d.Err("wechatpay_v3: public_key and public_key_file are both set; use one")
	case pubKey != (w.PublicKeyID != ""):
		return d.Err("wechatpay_v3: public_key_id and public_key[_file] go together (public-key mode)")
	case len(w.PlatformCertFiles) == 0 && !pubKey:
		return d.Err("wechatpay_v3: the WeChat Pay key is required: platform_cert_file, or public_key_id and public_key[_file] (both are allowed together while WeChat migrates the merchant)")
	case w.PrivateKey != "" && w.PrivateKeyFile != "":
		return d.Err("wechatpay_v3: private_key and private_key_file are both set; use one")
	case privKey != (w.MerchantSerial != ""):
		return d.Err("wechatpay_v3: the query needs both merchant_serial and private_key[_file]")
	}
	return nil
}

// WeChatPayV2 is the `wechatpay_v2` provider: WeChat Pay API v2 XML payment
// notices (signed with the API key, MD5 or HMAC-SHA256) and refund notices
// (req_info encrypted under the API key), and the orderquery API. The
// query needs only the API key, so it is on unless `query off` says
// otherwise.
type WeChatPayV2 struct {
	MchID string `json:"mch_id,omitempty"`
	AppID string `json:"app_id,omitempty"`
	// APIKey (or the file holding it, no trailing newline): 32 bytes, or a
	// placeholder.
	APIKey     string `json:"api_key,omitempty"`
	APIKeyFile string `json:"api_key_file,omitempty"`
	// SignType is MD5 (the default) or HMAC-SHA256; a notice naming another
	// is refused.
	SignType string `json:"sign_type,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (WeChatPayV2) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "payguard.providers." + wechatpay.V2Name,
		New: func() caddy.Module { return new(WeChatPayV2) },
	}
}

// BuildProvider resolves the placeholders, reads the API key and builds
// the provider, which is also its own querier.
func (w *WeChatPayV2) BuildProvider(_ caddy.Context, q QuerySettings) (provider.Provider, provider.Querier, error) {
	repl := caddy.NewReplacer()
	cfg := wechatpay.V2Config{SignType: w.SignType, Endpoint: q.Endpoint, HTTPClient: wechatPayHTTPClient(q.Timeout)}
	defer func() { clear(cfg.APIKey) }()
	var err error
	if cfg.MchID, err = repl.ReplaceOrErr(w.MchID, true, true); err != nil {
		return nil, nil, fmt.Errorf("mch_id: %v", err)
	}
	if cfg.AppID, err = repl.ReplaceOrErr(w.AppID, true, true); err != nil {
		return nil, nil, fmt.Errorf("app_id: %v", err)
	}
	if cfg.APIKey, err = loadSecret(repl, "api_key", w.APIKey, w.APIKeyFile); err != nil {
		return nil, nil, err
	}
	p, err := wechatpay.NewV2(cfg)
	if err != nil {
		return nil, nil, err
	}
	return withQuerier(p)
}

// UnmarshalOption takes the WeChat Pay v2 options from the handler's block.
// The query block holds no v2 option: the query signs with the API key.
func (w *WeChatPayV2) UnmarshalOption(d *caddyfile.Dispenser, inQuery bool) (bool, error) {
	if inQuery {
		return false, nil
	}
	switch opt := d.Val(); opt {
	case "mch_id":
		return true, oneArg(d, &w.MchID)
	case "app_id":
		return true, oneArg(d, &w.AppID)
	case "api_key", "api_key_file":
		if err := secretOption(d, &w.APIKey, &w.APIKeyFile, checkV2APIKey); err != nil {
			return true, err
		}
	case "sign_type":
		if err := oneArg(d, &w.SignType); err != nil {
			return true, err
		}
		if w.SignType != wechatpay.SignTypeMD5 && w.SignType != wechatpay.SignTypeHMACSHA256 {
			return true, d.Errf("wechatpay_v2: sign_type must be MD5 or HMAC-SHA256, not %q", w.SignType)
		}
	default:
		return false, nil
	}
	return true, nil
}

// FinishCaddyfile checks the required options.
func (w *WeChatPayV2) FinishCaddyfile(d *caddyfile.Dispenser) error {
	switch {
	case w.MchID == "":
		return d.Err("wechatpay_v2: mch_id is required")
	case w.AppID == "":
		return d.Err("wechatpay_v2: app_id is required")
	case w.APIKey != "" && w.APIKeyFile != "":
		return d.Err("wechatpay_v2: api_key and api_key_file are both set; use one")
	case w.APIKey == "" && w.APIKeyFile == "":
		return d.Err("wechatpay_v2: the API key is required: api_key or api_key_file")
	}
	return nil
}

// wechatPayHTTPClient is the query client: the route's query timeout, and
// no redirects (a signed query goes to the configured host or nowhere).
func wechatPayHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkAPIv3Key is the provider's length rule, told at adapt time. The
// error gives the length, never the key.
func checkAPIv3Key(b []byte) error {
	switch len(b) {
	case 32, 24, 16:
		return nil
	}
	return fmt.Errorf("must be 32 bytes, got %d%s", len(b), newlineHint(b))
}

// checkV2APIKey: the console issues 32-character keys only.
func checkV2APIKey(b []byte) error {
	if len(b) == 32 {
		return nil
	}
	return fmt.Errorf("must be 32 bytes, got %d%s", len(b), newlineHint(b))
}

func newlineHint(b []byte) string {
	if len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		return " (the file ends with a newline; write it without one)"
	}
	return ""
}

// parsePlatformCerts is the provider's check of a platform certificate
// file: certificates with RSA keys of at least 2048 bits.
func parsePlatformCerts(b []byte) error {
	certs, err := keys.ParseCertificates(b)
	if err != nil {
		return err
	}
	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("certificate %s has no RSA key", strings.ToUpper(c.SerialNumber.Text(16)))
		}
		if pub.N.BitLen() < 2048 {
			return fmt.Errorf("certificate %s has an RSA key of %d bits, fewer than 2048", strings.ToUpper(c.SerialNumber.Text(16)), pub.N.BitLen())
		}
	}
	return nil
}

func parseRSA2048PrivateKey(b []byte) error {
	k, err := keys.ParseRSAPrivateKey(b)
	if err != nil {
		return err
	}
	if k.N.BitLen() < 2048 {
		return errors.New("RSA key has fewer than 2048 bits")
	}
	return nil
}

func validPublicKeyID(s string) bool {
	return strings.HasPrefix(s, wechatpay.PublicKeyIDPrefix) && len(s) > len(wechatpay.PublicKeyIDPrefix)
}

// Interface guards
var (
	_ ProviderModule    = (*WeChatPayV3)(nil)
	_ CaddyfileProvider = (*WeChatPayV3)(nil)
	_ ProviderModule    = (*WeChatPayV2)(nil)
	_ CaddyfileProvider = (*WeChatPayV2)(nil)
)
