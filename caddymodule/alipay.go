package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/alipay"
)

func init() {
	caddy.RegisterModule(Alipay{})
}

// Alipay is the `alipay` provider: async notifications (mode notify) or the
// browser's synchronous return (mode return), RSA2 in public-key or
// certificate mode, and alipay.trade.query.
type Alipay struct {
	AppID    string `json:"app_id,omitempty"`
	SellerID string `json:"seller_id,omitempty"`
	// PublicKey is the Alipay public key (not the app's), PEM or the bare
	// base64 the console shows; or a placeholder.
	PublicKey     string `json:"public_key,omitempty"`
	PublicKeyFile string `json:"public_key_file,omitempty"`
	// CertFile and RootCertFile select certificate mode.
	CertFile     string `json:"cert_file,omitempty"`
	RootCertFile string `json:"root_cert_file,omitempty"`
	// SignType is RSA2 (default) or RSA (SHA-1, legacy apps only).
	SignType string `json:"sign_type,omitempty"`
	// Mode is notify (default) or return.
	Mode string `json:"mode,omitempty"`
	// Query credentials: the app private key, and in certificate mode the
	// app public certificate.
	PrivateKey     string `json:"private_key,omitempty"`
	PrivateKeyFile string `json:"private_key_file,omitempty"`
	AppCertFile    string `json:"app_cert_file,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Alipay) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "payguard.providers.alipay",
		New: func() caddy.Module { return new(Alipay) },
	}
}

// BuildProvider resolves the keys and builds the provider.
func (a *Alipay) BuildProvider(ctx caddy.Context, q QuerySettings) (provider.Provider, provider.Querier, error) {
	repl := caddy.NewReplacer()
	cfg := alipay.Config{
		AppID: a.AppID, SellerID: a.SellerID, SignType: a.SignType, Mode: a.Mode,
		Endpoint: q.Endpoint, HTTPClient: &http.Client{Timeout: q.Timeout},
	}
	var err error
	if cfg.AppID, err = repl.ReplaceOrErr(a.AppID, true, true); err != nil {
		return nil, nil, fmt.Errorf("app_id: %v", err)
	}
	if cfg.PublicKey, err = loadSecret(repl, "public_key", a.PublicKey, a.PublicKeyFile); err != nil {
		return nil, nil, err
	}
	if a.CertFile != "" {
		if cfg.Cert, err = readConfigFile(repl, "cert_file", a.CertFile); err != nil {
			return nil, nil, err
		}
	}
	if a.RootCertFile != "" {
		if cfg.RootCert, err = readConfigFile(repl, "root_cert_file", a.RootCertFile); err != nil {
			return nil, nil, err
		}
	}
	if cfg.PrivateKey, err = loadSecret(repl, "private_key", a.PrivateKey, a.PrivateKeyFile); err != nil {
		return nil, nil, err
	}
	if a.AppCertFile != "" {
		if cfg.AppCert, err = readConfigFile(repl, "app_cert_file", a.AppCertFile); err != nil {
			return nil, nil, err
		}
	}
	p, err := alipay.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	return withQuerier(p)
}

// UnmarshalOption takes the Alipay options from the handler's block.
func (a *Alipay) UnmarshalOption(d *caddyfile.Dispenser, inQuery bool) (bool, error) {
	opt := d.Val()
	if inQuery {
		switch opt {
		case "private_key", "private_key_file":
			if err := secretOption(d, &a.PrivateKey, &a.PrivateKeyFile, func(b []byte) error {
				_, err := keys.ParseRSAPrivateKey(b)
				return err
			}); err != nil {
				return true, err
			}
		case "app_cert_file":
			if err := oneArg(d, &a.AppCertFile); err != nil {
				return true, err
			}
			if err := checkAtParse(d, opt, a.AppCertFile, true, parseCerts); err != nil {
				return true, err
			}
		default:
			return false, nil
		}
		return true, nil
	}
	switch opt {
	case "app_id":
		return true, oneArg(d, &a.AppID)
	case "seller_id":
		return true, oneArg(d, &a.SellerID)
	case "public_key", "public_key_file":
		if err := secretOption(d, &a.PublicKey, &a.PublicKeyFile, func(b []byte) error {
			_, err := keys.ParseRSAPublicKey(b)
			return err
		}); err != nil {
			return true, err
		}
	case "cert_file", "root_cert_file":
		var v string
		if err := oneArg(d, &v); err != nil {
			return true, err
		}
		if err := checkAtParse(d, opt, v, true, parseCerts); err != nil {
			return true, err
		}
		if opt == "cert_file" {
			a.CertFile = v
		} else {
			a.RootCertFile = v
		}
	case "sign_type":
		if err := oneArg(d, &a.SignType); err != nil {
			return true, err
		}
		if a.SignType != "RSA2" && a.SignType != "RSA" {
			return true, d.Errf("alipay: sign_type must be RSA2 or RSA, not %q", a.SignType)
		}
	case "mode":
		if err := oneArg(d, &a.Mode); err != nil {
			return true, err
		}
		if a.Mode != "notify" && a.Mode != "return" {
			return true, d.Errf("alipay: mode must be notify or return, not %q", a.Mode)
		}
	default:
		return false, nil
	}
	return true, nil
}

// FinishCaddyfile checks the required options.
func (a *Alipay) FinishCaddyfile(d *caddyfile.Dispenser) error {
	if a.AppID == "" {
		return d.Err("alipay: app_id is required")
	}
	pub := a.PublicKey != "" || a.PublicKeyFile != ""
	cert := a.CertFile != "" || a.RootCertFile != ""
	switch {
	case a.PublicKey != "" && a.PublicKeyFile != "":
		return d.Err("alipay: public_key and public_key_file are both set; use one")
	case a.PrivateKey != "" && a.PrivateKeyFile != "":
		return d.Err("alipay: private_key and private_key_file are both set; use one")
	case pub && cert:
		return d.Err("alipay: public_key and cert_file are both set; choose public-key or certificate mode")
	case !pub && !cert:
		return d.Err("alipay: the Alipay key is required: public_key[_file], or cert_file and root_cert_file")
	case cert && (a.CertFile == "" || a.RootCertFile == ""):
		return d.Err("alipay: certificate mode needs both cert_file and root_cert_file")
	}
	return nil
}

func parseCerts(b []byte) error {
	_, err := keys.ParseCertificates(b)
	return err
}

// Interface guards
var (
	_ ProviderModule    = (*Alipay)(nil)
	_ CaddyfileProvider = (*Alipay)(nil)
)
