package sim

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/keys"
)

func TestWriteKeysFilesAndModes(t *testing.T) {
	k := testKeys(t)
	for name, mode := range map[string]os.FileMode{
		FileAlipayPrivate: 0o600, FileAlipayPublic: 0o644, FileAppPrivate: 0o600, FileAppPublic: 0o644,
		FileWeChatPlatformPrivate: 0o600, FileWeChatPlatformPublic: 0o644,
		FileWeChatMerchantPrivate: 0o600, FileWeChatMerchantPublic: 0o644,
		FileWeChatAPIv3Key: 0o600, FileWeChatAPIKey: 0o600,
	} {
		fi, err := os.Stat(filepath.Join(k.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	fi, _ := os.Stat(k.Dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("keys dir mode %v", fi.Mode().Perm())
	}
	// Every key parses with payguard's own key parser, as the sidecar will
	// parse them, and the pairs match.
	priv, err := keys.ParseRSAPrivateKey(readKeyFile(t, FileAppPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(k.AppPublicKey) || priv.N.BitLen() != 2048 {
		t.Fatal("app pair")
	}
	pub, err := keys.ParseRSAPublicKey(readKeyFile(t, FileAlipayPublic))
	if err != nil || !pub.Equal(&k.AlipayKey.PublicKey) {
		t.Fatalf("alipay pair: %v", err)
	}
	if k.WeChat == nil || len(k.WeChat.APIv3Key) != 32 || len(k.WeChat.APIKey) != 32 ||
		!strings.HasPrefix(k.WeChat.PublicKeyID, "PUB_KEY_ID_") || len(k.WeChat.MerchantSerial) != 40 {
		t.Fatalf("wechat keys: %v", k.WeChat)
	}
	// Four distinct key pairs.
	ns := map[string]bool{}
	for _, n := range []string{k.AlipayKey.N.String(), k.AppPublicKey.N.String(), k.WeChat.PlatformKey.N.String(), k.WeChat.MerchantPublicKey.N.String()} {
		ns[n] = true
	}
	if len(ns) != 4 {
		t.Fatal("key pairs repeat")
	}
}

func TestWriteKeysRefusesOverwrite(t *testing.T) {
	dir := testKeys(t).Dir
	before := readKeyFile(t, FileAlipayPrivate)
	if _, err := WriteKeys(dir); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("overwrite: %v", err)
	}
	if !bytes.Equal(before, readKeyFile(t, FileAlipayPrivate)) {
		t.Fatal("a refused WriteKeys changed a key")
	}

	// With Overwrite, a private key left world-readable gets 0600 again.
	other := t.TempDir()
	if _, err := WriteKeys(other); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(other, FileAppPrivate)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(p)
	if _, err := GenerateKeys(KeysConfig{Dir: other, Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	now, _ := os.ReadFile(p)
	if fi.Mode().Perm() != 0o600 || bytes.Equal(old, now) {
		t.Fatalf("overwritten private key: mode %v, changed %v", fi.Mode().Perm(), !bytes.Equal(old, now))
	}
}

func TestLoadKeysExamples(t *testing.T) {
	// The committed sandbox keys of the repository load (Alipay only:
	// examples/keys has no WeChat files yet).
	k, err := LoadKeys(filepath.Join("..", "..", "examples", "keys"))
	if err != nil {
		t.Fatalf("examples/keys: %v", err)
	}
	ps, err := Providers(k, "", nil)
	if err != nil || len(ps) < 1 || ps[0].Name() != "alipay" {
		t.Fatalf("providers %v %v", ps, err)
	}
}

func TestLoadKeysErrorsNeverHoldKeyMaterial(t *testing.T) {
	src := testKeys(t).Dir
	copyDir := func(t *testing.T, skip ...string) string {
		d := t.TempDir()
		entries, _ := os.ReadDir(src)
	next:
		for _, e := range entries {
			for _, s := range skip {
				if e.Name() == s {
					continue next
				}
			}
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			if err := os.WriteFile(filepath.Join(d, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	privPEM := readKeyFile(t, FileAlipayPrivate)
	privB64 := strings.Join(strings.Split(string(privPEM), "\n")[1:3], "")
	apiKey := string(readKeyFile(t, FileWeChatAPIKey))

	cases := map[string]func(d string) string{
		"missing alipay key": func(d string) string { os.Remove(filepath.Join(d, FileAlipayPrivate)); return FileAlipayPrivate },
		"garbage private key": func(d string) string {
			// A truncated copy of the real key: its bytes must not leak.
			os.WriteFile(filepath.Join(d, FileAlipayPrivate), privPEM[:len(privPEM)/2], 0o600)
			return FileAlipayPrivate
		},
		"base64 garbage": func(d string) string {
			os.WriteFile(filepath.Join(d, FileAlipayPrivate), []byte(base64.StdEncoding.EncodeToString([]byte(privB64))), 0o600)
			return FileAlipayPrivate
		},
		"public key of another pair": func(d string) string {
			b, _ := os.ReadFile(filepath.Join(d, FileAppPublic))
			os.WriteFile(filepath.Join(d, FileAlipayPublic), b, 0o644)
			return FileAlipayPublic
		},
		"app pair mismatch": func(d string) string {
			b, _ := os.ReadFile(filepath.Join(d, FileAlipayPrivate))
			os.WriteFile(filepath.Join(d, FileAppPrivate), b, 0o600)
			return FileAppPublic
		},
		"api key with newline": func(d string) string {
			os.WriteFile(filepath.Join(d, FileWeChatAPIKey), []byte(apiKey+"\n"), 0o600)
			return FileWeChatAPIKey
		},
		"partial wechat set": func(d string) string { os.Remove(filepath.Join(d, FileWeChatAPIv3Key)); return "WeChat" },
		"merchant pair mismatch": func(d string) string {
			b, _ := os.ReadFile(filepath.Join(d, FileAppPrivate))
			os.WriteFile(filepath.Join(d, FileWeChatMerchantPrivate), b, 0o600)
			return FileWeChatMerchantPublic
		},
	}
	for name, break_ := range cases {
		t.Run(name, func(t *testing.T) {
			d := copyDir(t)
			wantName := break_(d)
			_, err := LoadKeys(d)
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, wantName) {
				t.Errorf("error does not name %s: %v", wantName, err)
			}
			if strings.Contains(msg, privB64[:20]) || strings.Contains(msg, apiKey) || strings.Contains(msg, "PRIVATE KEY") {
				t.Errorf("error holds key material: %v", err)
			}
		})
	}
	// Alipay-only directory: fine, WeChat off.
	k, err := LoadKeys(copyDir(t, wechatFiles...))
	if err != nil || k.WeChat != nil {
		t.Fatalf("alipay-only dir: %v %v", k, err)
	}
	if s := k.String(); strings.Contains(s, "KEY-----") {
		t.Fatal("String prints key material")
	}
}

func TestCaddyfileToken(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b":       "/a/b",
		"/a b/c":     `"/a b/c"`,
		"/a#b":       `"/a#b"`,
		"/a{env.X}":  "",
		"/a\"b":      "",
		"/a\nb":      "",
		`C:\keys`:    "",
		"":           "",
		"/tab\there": "\"/tab\there\"",
	} {
		got, err := caddyfileToken(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("caddyfileToken(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := WriteKeys(filepath.Join(t.TempDir(), "{bad}")); err == nil {
		t.Fatal("brace path accepted")
	}
}

func TestSnippetMentionsKeys(t *testing.T) {
	testKeys(t)
	s := fixture.snippet
	dir := testKeys(t).Dir
	abs, _ := filepath.Abs(dir)
	for _, want := range []string{
		"payguard alipay {", "app_id " + DefaultAlipayAppID,
		"public_key_file " + filepath.Join(abs, FileAlipayPublic),
		"endpoint " + DefaultSandboxURL + "/alipay/gateway.do",
		"private_key_file " + filepath.Join(abs, FileAppPrivate),
		"\npayguard wechatpay_v3 {\n", "\n\tpublic_key_id " + testKeys(t).WeChat.PublicKeyID + "\n",
		"\n\t\tmerchant_serial " + testKeys(t).WeChat.MerchantSerial + "\n",
		"\npayguard wechatpay_v2 {\n", "\n\tapi_key_file " + filepath.Join(abs, FileWeChatAPIKey) + "\n",
		"payguard_sim {", "\tkeys " + abs,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("snippet lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, string(readKeyFile(t, FileWeChatAPIKey))) {
		t.Fatal("snippet holds key material")
	}
	// The WeChat blocks are live lines: nothing but comments starts with #.
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "#") && strings.Contains(line, "{") {
			t.Errorf("commented-out directive: %q", line)
		}
	}
	live, err := Snippet(KeysConfig{SandboxURL: "http://sandbox:9/"}, abs, "PUB_KEY_ID_01x", "SERIAL")
	if err != nil || !strings.Contains(live, "\npayguard wechatpay_v3 {") || !strings.Contains(live, "endpoint http://sandbox:9/wechatpay\n") ||
		!strings.Contains(live, "endpoint http://sandbox:9/wechatpay/v2/pay/orderquery\n") {
		t.Fatalf("live wechat lines: %v\n%s", err, live)
	}
	if _, err := Snippet(KeysConfig{AlipayAppID: "2021 x"}, abs, "", ""); err == nil {
		t.Fatal("app id with a space accepted")
	}
}
