package sim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/payguard/payguard/internal/keys"
)

// File names in a keys directory. The first four are those of
// examples/keys; the WeChat files are optional (without them the sandbox
// simulates Alipay only).
const (
	FileAlipayPrivate = "alipay_private.pem" // stands in for Alipay's key: signs notifications and answers
	FileAlipayPublic  = "alipay_public.pem"  // payguard verifies with it (public_key_file)
	FileAppPrivate    = "app_private.pem"    // the merchant app's key: payguard signs queries (query private_key_file)
	FileAppPublic     = "app_public.pem"     // the sandbox checks payguard's queries with it

	FileWeChatPlatformPrivate = "wechatpay_platform_private.pem" // stands in for WeChat Pay's platform key
	FileWeChatPlatformPublic  = "wechatpay_platform_public.pem"  // payguard verifies with it (public_key_file)
	FileWeChatMerchantPrivate = "wechatpay_merchant_private.pem" // payguard signs v3 queries (query private_key_file)
	FileWeChatMerchantPublic  = "wechatpay_merchant_public.pem"  // the sandbox checks v3 queries with it
	FileWeChatAPIv3Key        = "wechatpay_apiv3_key"            // 32 bytes, no newline (api_v3_key_file)
	FileWeChatAPIKey          = "wechatpay_v2_api_key"           // 32 bytes, no newline (api_key_file)
)

var wechatFiles = []string{
	FileWeChatPlatformPrivate, FileWeChatPlatformPublic, FileWeChatMerchantPrivate,
	FileWeChatMerchantPublic, FileWeChatAPIv3Key, FileWeChatAPIKey,
}

// DefaultSandboxURL is where `payguard sim serve` listens by default.
const DefaultSandboxURL = "http://127.0.0.1:9002"

// Keys is the sandbox's key material, parsed once.
type Keys struct {
	// Dir is the directory the keys were read from.
	Dir string
	// AlipayKey signs like Alipay; AppPublicKey checks payguard's queries.
	AlipayKey    *rsa.PrivateKey
	AppPublicKey *rsa.PublicKey
	// WeChat is nil when the directory holds no WeChat files.
	WeChat *WeChatKeys
}

// WeChatKeys is the WeChat Pay part of the sandbox keys. The key id and
// the merchant serial are derived from the public keys, so a fresh set of
// keys gets fresh ids and nothing more needs storing.
type WeChatKeys struct {
	PlatformKey       *rsa.PrivateKey
	PublicKeyID       string
	MerchantPublicKey *rsa.PublicKey
	MerchantSerial    string
	APIv3Key          []byte
	APIKey            []byte
}

// String never prints key material.
func (k *Keys) String() string { return "sim keys in " + k.Dir }

// String never prints key material.
func (k *WeChatKeys) String() string { return "wechatpay sim keys " + k.PublicKeyID }

// LoadKeys reads a keys directory (as written by WriteKeys, or
// examples/keys). The Alipay files are required; the WeChat files are all
// or nothing. A public file beside its private key must be its public half,
// so a mixed-up directory fails here instead of as bad_signature later.
// Errors name the file, never its content.
func LoadKeys(dir string) (*Keys, error) {
	k := &Keys{Dir: dir}
	var err error
	if k.AlipayKey, err = readPrivate(dir, FileAlipayPrivate); err != nil {
		return nil, err
	}
	if err := checkPair(dir, FileAlipayPublic, k.AlipayKey, false); err != nil {
		return nil, err
	}
	if k.AppPublicKey, err = readPublic(dir, FileAppPublic); err != nil {
		return nil, err
	}
	if app, err := readPrivate(dir, FileAppPrivate); err == nil {
		if !app.PublicKey.Equal(k.AppPublicKey) {
			return nil, fmt.Errorf("%s is not the public half of %s", filepath.Join(dir, FileAppPublic), FileAppPrivate)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	present := 0
	for _, f := range wechatFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			present++
		}
	}
	switch present {
	case 0:
		return k, nil
	case len(wechatFiles):
	default:
		return nil, fmt.Errorf("%s holds some WeChat Pay files but not all of %s", dir, strings.Join(wechatFiles, ", "))
	}
	w := &WeChatKeys{}
	if w.PlatformKey, err = readPrivate(dir, FileWeChatPlatformPrivate); err != nil {
		return nil, err
	}
	if err := checkPair(dir, FileWeChatPlatformPublic, w.PlatformKey, true); err != nil {
		return nil, err
	}
	if w.MerchantPublicKey, err = readPublic(dir, FileWeChatMerchantPublic); err != nil {
		return nil, err
	}
	merch, err := readPrivate(dir, FileWeChatMerchantPrivate)
	if err != nil {
		return nil, err
	}
	if !merch.PublicKey.Equal(w.MerchantPublicKey) {
		return nil, fmt.Errorf("%s is not the public half of %s", filepath.Join(dir, FileWeChatMerchantPublic), FileWeChatMerchantPrivate)
	}
	if w.APIv3Key, err = readSecret(dir, FileWeChatAPIv3Key); err != nil {
		return nil, err
	}
	if w.APIKey, err = readSecret(dir, FileWeChatAPIKey); err != nil {
		return nil, err
	}
	w.PublicKeyID = PublicKeyID(&w.PlatformKey.PublicKey)
	w.MerchantSerial = MerchantSerial(w.MerchantPublicKey)
	k.WeChat = w
	return k, nil
}

// readFile reads a key file; the error names the file and keeps
// fs.ErrNotExist visible to errors.Is.
func readFile(dir, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), pe.Err)
		}
		return nil, err
	}
	return b, nil
}

func readPrivate(dir, name string) (*rsa.PrivateKey, error) {
	b, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	k, err := keys.ParseRSAPrivateKey(b) // its errors never echo key bytes
	if err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, name), err)
	}
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("%s: RSA key has %d bits, fewer than 2048", filepath.Join(dir, name), k.N.BitLen())
	}
	return k, nil
}

func readPublic(dir, name string) (*rsa.PublicKey, error) {
	b, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	k, err := keys.ParseRSAPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, name), err)
	}
	return k, nil
}

// checkPair checks that the public file, when present (or when required),
// holds priv's public key.
func checkPair(dir, pubName string, priv *rsa.PrivateKey, required bool) error {
	pub, err := readPublic(dir, pubName)
	if err != nil {
		if !required && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if !pub.Equal(&priv.PublicKey) {
		return fmt.Errorf("%s is not the public half of the private key beside it", filepath.Join(dir, pubName))
	}
	return nil
}

// readSecret reads a 32-byte API key file. A trailing newline is an error,
// not trimmed: payguard reads the same file byte for byte, and a 33-byte
// key there would fail every message with no hint why.
func readSecret(dir, name string) ([]byte, error) {
	b, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("%s: must hold exactly 32 bytes (no trailing newline), holds %d", filepath.Join(dir, name), len(b))
	}
	return b, nil
}

// PublicKeyID derives a WeChat-style public key id (PUB_KEY_ID_ and 32
// digits) from a platform public key, so the id changes with the key.
func PublicKeyID(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub) // an RSA key always marshals
	sum := sha256.Sum256(der)
	digits := new(big.Int).SetBytes(sum[:]).Text(10)
	// Left-pad: a hash below 10^29 (odds ~10^-48) must not make it short.
	digits = strings.Repeat("0", max(0, 30-len(digits))) + digits
	return "PUB_KEY_ID_01" + digits[:30]
}

// MerchantSerial derives a certificate-style serial (40 upper-hex
// characters) from the merchant public key.
func MerchantSerial(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// KeysConfig says what GenerateKeys writes and which Caddyfile lines it
// prints.
type KeysConfig struct {
	// Dir is created (0700) when missing.
	Dir string
	// Overwrite replaces existing key files; without it GenerateKeys
	// refuses to touch a directory that already holds any of them.
	Overwrite bool
	// SandboxURL is where the sandbox will listen; DefaultSandboxURL when
	// empty.
	SandboxURL string
	// AlipayAppID, WeChatMchID, WeChatAppID go into the printed lines;
	// the simulator's defaults when empty.
	AlipayAppID, WeChatMchID, WeChatAppID string
}

// WriteKeys writes fresh RSA-2048 key pairs and WeChat API keys to dir
// (private keys and API keys 0600, public keys 0644) under the names of
// examples/keys, and returns the matching Caddyfile lines: the sidecar's
// `payguard alipay`, `payguard wechatpay_v3` and `payguard wechatpay_v2`
// blocks, each for its own notification route, and the sandbox's
// `payguard_sim` block, for its own site.
func WriteKeys(dir string) (string, error) {
	return GenerateKeys(KeysConfig{Dir: dir})
}

type keyFile struct {
	name string
	data []byte
	mode os.FileMode
}

// GenerateKeys is WriteKeys with options.
func GenerateKeys(cfg KeysConfig) (string, error) {
	if cfg.Dir == "" {
		return "", errors.New("no keys directory given")
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return "", err
	}
	// Check the path can be written into a Caddyfile before writing
	// anything.
	if _, err := caddyfileToken(abs); err != nil {
		return "", err
	}
	names := append([]string{FileAlipayPrivate, FileAlipayPublic, FileAppPrivate, FileAppPublic}, wechatFiles...)
	if !cfg.Overwrite {
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(abs, n)); err == nil {
				return "", fmt.Errorf("%s already exists; refusing to overwrite keys (use --force)", filepath.Join(abs, n))
			}
		}
	}

	var files []keyFile
	pair := func(priv, pub string) (*rsa.PrivateKey, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		p8, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		files = append(files,
			keyFile{priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600},
			keyFile{pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644})
		return k, nil
	}
	if _, err := pair(FileAlipayPrivate, FileAlipayPublic); err != nil {
		return "", err
	}
	if _, err := pair(FileAppPrivate, FileAppPublic); err != nil {
		return "", err
	}
	platform, err := pair(FileWeChatPlatformPrivate, FileWeChatPlatformPublic)
	if err != nil {
		return "", err
	}
	merchant, err := pair(FileWeChatMerchantPrivate, FileWeChatMerchantPublic)
	if err != nil {
		return "", err
	}
	files = append(files,
		keyFile{FileWeChatAPIv3Key, []byte(randomKey()), 0o600},
		keyFile{FileWeChatAPIKey, []byte(randomKey()), 0o600})

	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", err
	}
	for _, f := range files {
		if err := writeExclusive(filepath.Join(abs, f.name), f.data, f.mode, cfg.Overwrite); err != nil {
			return "", err
		}
	}
	return Snippet(cfg, abs, PublicKeyID(&platform.PublicKey), MerchantSerial(&merchant.PublicKey))
}

// writeExclusive creates path with mode. os.WriteFile keeps the mode of an
// existing file, so an overwritten private key could stay world-readable:
// the old file is removed and the new one created exclusively instead.
func writeExclusive(path string, data []byte, mode os.FileMode, overwrite bool) error {
	if overwrite {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// randomKey is a 32-character API key from crypto/rand, letters and
// digits as the WeChat console issues them.
func randomKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	for i := range b {
		// 256 % 62 leaves a slight bias: irrelevant for a sandbox key.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// caddyfileToken writes v as one Caddyfile token: bare, or quoted when it
// holds spaces. A brace would be read as a placeholder, and a quote or a
// newline cannot be written safely, so such paths are refused.
func caddyfileToken(v string) (string, error) {
	if v == "" || strings.ContainsAny(v, "\"\n\r{}`\\") {
		return "", fmt.Errorf("path %q cannot be written into a Caddyfile; choose a plainer directory", clip(v))
	}
	if strings.ContainsAny(v, " \t#") {
		return `"` + v + `"`, nil
	}
	return v, nil
}

// Snippet returns the Caddyfile lines for a keys directory (absolute
// path), with the WeChat ids derived from its keys.
func Snippet(cfg KeysConfig, dir, publicKeyID, merchantSerial string) (string, error) {
	if cfg.SandboxURL == "" {
		cfg.SandboxURL = DefaultSandboxURL
	}
	if cfg.AlipayAppID == "" {
		cfg.AlipayAppID = DefaultAlipayAppID
	}
	if cfg.WeChatMchID == "" {
		cfg.WeChatMchID = DefaultWeChatMchID
	}
	if cfg.WeChatAppID == "" {
		cfg.WeChatAppID = DefaultWeChatAppID
	}
	for _, v := range []struct{ name, v string }{
		{"alipay app id", cfg.AlipayAppID}, {"wechat mch id", cfg.WeChatMchID}, {"wechat app id", cfg.WeChatAppID},
	} {
		if err := checkToken(v.name, v.v, 64); err != nil {
			return "", err
		}
	}
	sandbox, err := caddyfileToken(strings.TrimRight(cfg.SandboxURL, "/"))
	if err != nil {
		return "", err
	}
	file := func(name string) string {
		t, _ := caddyfileToken(filepath.Join(dir, name)) // dir was checked; names are plain
		return t
	}
	d, err := caddyfileToken(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	w := func(prefix, format string, args ...any) {
		b.WriteString(prefix)
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	w("", "# Sandbox keys in %s: public test keys, never for a real merchant account.", dir)
	w("", "#")
	w("", "# The sidecar, in the route Alipay posts notifications to:")
	w("", "payguard alipay {")
	w("", "\tapp_id %s", cfg.AlipayAppID)
	w("", "\tpublic_key_file %s", file(FileAlipayPublic))
	w("", "\tquery {")
	w("", "\t\tendpoint %s/alipay/gateway.do", sandbox)
	w("", "\t\tprivate_key_file %s", file(FileAppPrivate))
	w("", "\t}")
	w("", "}")
	w("", "#")
	w("", "# In the route WeChat Pay API v3 posts notifications to (public-key mode):")
	w("", "payguard wechatpay_v3 {")
	w("", "\tmch_id %s", cfg.WeChatMchID)
	w("", "\tapi_v3_key_file %s", file(FileWeChatAPIv3Key))
	w("", "\tpublic_key_id %s", publicKeyID)
	w("", "\tpublic_key_file %s", file(FileWeChatPlatformPublic))
	w("", "\tquery {")
	w("", "\t\tendpoint %s/wechatpay", sandbox)
	w("", "\t\tmerchant_serial %s", merchantSerial)
	w("", "\t\tprivate_key_file %s", file(FileWeChatMerchantPrivate))
	w("", "\t}")
	w("", "}")
	w("", "#")
	w("", "# In the route WeChat Pay API v2 posts notifications to:")
	w("", "payguard wechatpay_v2 {")
	w("", "\tmch_id %s", cfg.WeChatMchID)
	w("", "\tapp_id %s", cfg.WeChatAppID)
	w("", "\tapi_key_file %s", file(FileWeChatAPIKey))
	w("", "\tquery {")
	w("", "\t\tendpoint %s/wechatpay/v2/pay/orderquery", sandbox)
	w("", "\t}")
	w("", "}")
	w("", "#")
	w("", "# The sandbox, in its own site (%s), or run: payguard sim serve --keys %s", sandbox, d)
	w("", "payguard_sim {")
	w("", "\tkeys %s", d)
	w("", "}")
	return b.String(), nil
}

// Providers builds the simulated providers the keys allow: Alipay always,
// WeChat Pay v3 and v2 when the WeChat files are there. v2SignType is the
// sign type of v2 notifications ("" is MD5).
func Providers(k *Keys, v2SignType string, logf func(string, ...any)) ([]Provider, error) {
	a, err := NewAlipay(AlipayConfig{Key: k.AlipayKey, AppPublicKey: k.AppPublicKey, Logf: logf})
	if err != nil {
		return nil, err
	}
	ps := []Provider{a}
	if k.WeChat == nil {
		return ps, nil
	}
	wc := WeChatConfig{
		PlatformKey: k.WeChat.PlatformKey, PublicKeyID: k.WeChat.PublicKeyID, APIv3Key: k.WeChat.APIv3Key,
		MerchantPublicKey: k.WeChat.MerchantPublicKey, MerchantSerial: k.WeChat.MerchantSerial,
		APIKey: k.WeChat.APIKey, SignType: v2SignType, Logf: logf,
	}
	v3, err := NewWeChatV3(wc)
	if err != nil {
		return nil, err
	}
	v2, err := NewWeChatV2(wc)
	if err != nil {
		return nil, err
	}
	return append(ps, v3, v2), nil
}
