package wechatpay

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// Defaults of simulated WeChat Pay orders: the merchant number and app id
// of WeChat's own documentation examples.
const (
	DefaultSandboxMchID = "1900000001"
	DefaultSandboxAppID = "wxd930ea5d5a258f4f"
)

// wechatStates are the trade_state words shared by v2 and v3
// (providers.md sections 2 and 3).
var wechatStates = []string{"SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR"}

var wechatStateDesc = map[string]string{
	"SUCCESS": "支付成功", "REFUND": "转入退款", "NOTPAY": "未支付", "CLOSED": "已关闭",
	"REVOKED": "已撤销", "USERPAYING": "用户支付中", "PAYERROR": "支付失败",
}

// SandboxConfig configures the simulated WeChat Pay, both API versions.
type SandboxConfig struct {
	// PlatformKey stands in for WeChat Pay's platform key: it signs v3
	// notifications and answers. PublicKeyID (PUB_KEY_ID_...) is sent as
	// Wechatpay-Serial (public-key mode).
	PlatformKey *rsa.PrivateKey
	PublicKeyID string
	// APIv3Key encrypts v3 notification resources (32 bytes).
	APIv3Key []byte
	// MerchantPublicKey checks the Authorization of v3 queries, and
	// MerchantSerial is the serial_no they must carry.
	MerchantPublicKey *rsa.PublicKey
	MerchantSerial    string
	// APIKey is the v2 API key (32 bytes); SignType (MD5, the default, or
	// HMAC-SHA256) is how v2 notifications are signed. v2 query answers
	// follow each request's own sign_type, as WeChat's do.
	APIKey   []byte
	SignType string
	// Dir is where the key files are, for Settings.
	Dir sandbox.Dir
	// Now is the clock of the query APIs; time.Now when nil.
	Now func() time.Time
	// Logf, when set, is told about every query answered.
	Logf func(format string, args ...any)
}

func (c *SandboxConfig) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// prepareWeChat fills what both WeChat versions assign.
func prepareWeChat(o *sandbox.Order, name string, now time.Time) error {
	if err := sandbox.CheckCommon(o, name, "CNY"); err != nil {
		return err
	}
	if len(o.OutTradeNo) > 32 {
		return errors.New("out_trade_no is longer than WeChat's 32 characters")
	}
	if o.MchID == "" {
		o.MchID = DefaultSandboxMchID
	}
	if o.AppID == "" {
		o.AppID = DefaultSandboxAppID
	}
	if o.TransactionID == "" {
		o.TransactionID = "4200" + sandbox.RandDigits(24)
	}
	if o.Buyer == "" {
		o.Buyer = "oSim" + sandbox.RandDigits(24)
	}
	return sandbox.SettleStatus(o, now, "SUCCESS", wechatStates, wechatPaid)
}

func wechatPaid(state string) bool { return state == "SUCCESS" || state == "REFUND" }

// The sandbox's key files (examples/keys holds a public set).
const (
	FileSandboxPlatformKey    = "wechatpay_platform_private.pem" // stands in for WeChat Pay's platform key
	FileSandboxPlatformPublic = "wechatpay_platform_public.pem"  // payguard verifies with it (public_key_file)
	FileSandboxMerchantKey    = "wechatpay_merchant_private.pem" // payguard signs v3 queries (query private_key_file)
	FileSandboxMerchantPublic = "wechatpay_merchant_public.pem"  // the sandbox checks v3 queries with it
	FileSandboxAPIv3Key       = "wechatpay_apiv3_key"            // 32 bytes, no newline (api_v3_key_file)
	FileSandboxAPIKey         = "wechatpay_v2_api_key"           // 32 bytes, no newline (api_key_file)
)

var v3SandboxFiles = []string{
	FileSandboxPlatformKey, FileSandboxPlatformPublic, FileSandboxMerchantKey,
	FileSandboxMerchantPublic, FileSandboxAPIv3Key,
}

var v3SandboxSpec = &provider.SandboxSpec{
	Tamperable: v3Tamperable,
	Currency:   "CNY",
	GenerateKeys: func() ([]sandbox.KeyFile, error) {
		_, files, err := sandbox.NewRSAPair(FileSandboxPlatformKey, FileSandboxPlatformPublic)
		if err != nil {
			return nil, err
		}
		_, merchant, err := sandbox.NewRSAPair(FileSandboxMerchantKey, FileSandboxMerchantPublic)
		if err != nil {
			return nil, err
		}
		files = append(files, merchant...)
		return append(files, sandbox.KeyFile{Name: FileSandboxAPIv3Key, Data: sandbox.RandomSecret(32), Mode: 0o600}), nil
	},
	Load: func(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
		if err := dir.Present(v3SandboxFiles...); err != nil {
			return nil, err
		}
		platform, err := dir.RSAPair(FileSandboxPlatformKey, FileSandboxPlatformPublic)
		if err != nil {
			return nil, err
		}
		merchant, err := dir.RSAPair(FileSandboxMerchantKey, FileSandboxMerchantPublic)
		if err != nil {
			return nil, err
		}
		apiV3, err := dir.Secret(FileSandboxAPIv3Key, 32)
		if err != nil {
			return nil, err
		}
		return NewSandboxV3(SandboxConfig{
			PlatformKey: platform, PublicKeyID: SandboxPublicKeyID(&platform.PublicKey), APIv3Key: apiV3,
			MerchantPublicKey: &merchant.PublicKey, MerchantSerial: SandboxMerchantSerial(&merchant.PublicKey),
			Dir: dir, Logf: opts.Logf,
		})
	},
}

var v2SandboxSpec = &provider.SandboxSpec{
	Tamperable: v2Tamperable,
	Currency:   "CNY",
	GenerateKeys: func() ([]sandbox.KeyFile, error) {
		return []sandbox.KeyFile{{Name: FileSandboxAPIKey, Data: sandbox.RandomSecret(32), Mode: 0o600}}, nil
	},
	Load: func(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
		if err := dir.Present(FileSandboxAPIKey); err != nil {
			return nil, err
		}
		key, err := dir.Secret(FileSandboxAPIKey, 32)
		if err != nil {
			return nil, err
		}
		return NewSandboxV2(SandboxConfig{APIKey: key, SignType: opts.Params["sign_type"], Dir: dir, Logf: opts.Logf})
	},
}

// SandboxPublicKeyID derives a WeChat-style public key id (PUB_KEY_ID_ and
// 32 digits) from a platform public key, so the id changes with the key.
func SandboxPublicKeyID(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub) // an RSA key always marshals
	sum := sha256.Sum256(der)
	digits := new(big.Int).SetBytes(sum[:]).Text(10)
	// Left-pad: a hash below 10^29 (odds ~10^-48) must not make it short.
	digits = strings.Repeat("0", max(0, 30-len(digits))) + digits
	return "PUB_KEY_ID_01" + digits[:30]
}

// SandboxMerchantSerial derives a certificate-style serial (40 upper-hex
// characters) from the merchant public key.
func SandboxMerchantSerial(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Settings are the sidecar's options for this sandbox (public-key mode).
func (p *SandboxV3) Settings(base string) []provider.Setting {
	return []provider.Setting{
		{Name: "mch_id", Args: []string{DefaultSandboxMchID}},
		{Name: "api_v3_key_file", Args: []string{p.cfg.Dir.Path(FileSandboxAPIv3Key)}},
		{Name: "public_key_id", Args: []string{p.cfg.PublicKeyID}},
		{Name: "public_key_file", Args: []string{p.cfg.Dir.Path(FileSandboxPlatformPublic)}},
		{Name: "endpoint", Args: []string{strings.TrimRight(base, "/") + "/wechatpay"}, Query: true},
		{Name: "merchant_serial", Args: []string{p.cfg.MerchantSerial}, Query: true},
		{Name: "private_key_file", Args: []string{p.cfg.Dir.Path(FileSandboxMerchantKey)}, Query: true},
	}
}

// Settings are the sidecar's options for this sandbox.
func (p *SandboxV2) Settings(base string) []provider.Setting {
	s := []provider.Setting{
		{Name: "mch_id", Args: []string{DefaultSandboxMchID}},
		{Name: "app_id", Args: []string{DefaultSandboxAppID}},
		{Name: "api_key_file", Args: []string{p.cfg.Dir.Path(FileSandboxAPIKey)}},
	}
	if p.cfg.SignType != "" && p.cfg.SignType != SignTypeMD5 {
		s = append(s, provider.Setting{Name: "sign_type", Args: []string{p.cfg.SignType}})
	}
	return append(s, provider.Setting{Name: "endpoint", Args: []string{strings.TrimRight(base, "/") + "/wechatpay/v2/pay/orderquery"}, Query: true})
}

// maxSandboxRequest bounds what the sandbox reads of a query; payguard's
// are well under 2 KiB.
const maxSandboxRequest = 64 << 10
