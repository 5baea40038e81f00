package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

func keysDir() string { return filepath.Join(fixture.dir, "keys") }

func TestWriteKeysFilesAndModes(t *testing.T) {
	ps := testKeys(t)
	// Every provider with a sandbox got its keys, and they load.
	for _, s := range provider.Specs() {
		if s.Sandbox != nil {
			if _, ok := Find(ps, s.Name); !ok {
				t.Errorf("no sandbox keys for %s", s.Name)
			}
		}
	}
	entries, err := os.ReadDir(keysDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, _ := e.Info()
		b := readKeyFile(t, e.Name())
		secret := bytes.Contains(b, []byte("PRIVATE KEY")) || strings.Contains(e.Name(), "secret") || strings.HasSuffix(e.Name(), "api_key")
		if secret && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: secret material with mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
		if m := fi.Mode().Perm(); m != 0o600 && m != 0o644 {
			t.Errorf("%s: mode %v", e.Name(), m)
		}
	}
	fi, _ := os.Stat(keysDir())
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("keys dir mode %v", fi.Mode().Perm())
	}
}

func TestWriteKeysRefusesOverwrite(t *testing.T) {
	testKeys(t)
	before := readKeyFile(t, "alipay_private.pem")
	if _, err := WriteKeys(keysDir()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("overwrite: %v", err)
	}
	if !bytes.Equal(before, readKeyFile(t, "alipay_private.pem")) {
		t.Fatal("a refused WriteKeys changed a key")
	}

	// With Overwrite, a private key left world-readable gets 0600 again.
	other := t.TempDir()
	if _, err := WriteKeys(other); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(other, "alipay_app_private.pem")
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
	// The committed sandbox keys of the repository load.
	ps, err := Load(filepath.Join("..", "..", "examples", "keys"), provider.SandboxOptions{})
	if err != nil {
		t.Fatalf("examples/keys: %v", err)
	}
	if _, ok := Find(ps, "alipay"); !ok {
		t.Fatalf("examples/keys has no alipay sandbox: %v", ps)
	}
	if _, err := Load(t.TempDir(), provider.SandboxOptions{}); err == nil || !strings.Contains(err.Error(), "no sandbox keys") {
		t.Fatalf("an empty directory: %v", err)
	}
}

func TestLoadKeysErrorsNeverHoldKeyMaterial(t *testing.T) {
	testKeys(t)
	src := keysDir()
	copyDir := func(t *testing.T) string {
		d := t.TempDir()
		entries, _ := os.ReadDir(src)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			if err := os.WriteFile(filepath.Join(d, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	privPEM := readKeyFile(t, "alipay_private.pem")
	privB64 := strings.Join(strings.Split(string(privPEM), "\n")[1:3], "")
	cases := map[string]func(d string) string{
		"missing one of a provider's files": func(d string) string {
			os.Remove(filepath.Join(d, "alipay_private.pem"))
			return "alipay"
		},
		"garbage private key": func(d string) string {
			os.WriteFile(filepath.Join(d, "alipay_private.pem"), privPEM[:len(privPEM)/2], 0o600)
			return "alipay_private.pem"
		},
		"public key of another pair": func(d string) string {
			b, _ := os.ReadFile(filepath.Join(d, "alipay_app_public.pem"))
			os.WriteFile(filepath.Join(d, "alipay_public.pem"), b, 0o644)
			return "alipay_public.pem"
		},
		"secret with a newline": func(d string) string {
			b, _ := os.ReadFile(filepath.Join(d, "wechatpay_v2_api_key"))
			os.WriteFile(filepath.Join(d, "wechatpay_v2_api_key"), append(b, '\n'), 0o600)
			return "wechatpay_v2_api_key"
		},
	}
	for name, break_ := range cases {
		t.Run(name, func(t *testing.T) {
			d := copyDir(t)
			wantName := break_(d)
			_, err := Load(d, provider.SandboxOptions{})
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, wantName) {
				t.Errorf("error does not name %s: %v", wantName, err)
			}
			if strings.Contains(msg, privB64[:20]) || strings.Contains(msg, "PRIVATE KEY") {
				t.Errorf("error holds key material: %v", err)
			}
		})
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
	ps := testKeys(t)
	s := fixture.snippet
	for _, p := range ps {
		if !strings.Contains(s, "\npayguard "+p.Name()+" {\n") {
			t.Errorf("snippet lacks the %s block:\n%s", p.Name(), s)
		}
		for _, set := range p.Settings(DefaultSandboxURL) {
			for _, a := range set.Args {
				if !strings.Contains(s, a) {
					t.Errorf("snippet lacks %s %s", set.Name, a)
				}
			}
		}
	}
	if !strings.Contains(s, "payguard_sim {") || !strings.Contains(s, "\tkeys "+keysDir()) {
		t.Errorf("snippet lacks the sandbox block:\n%s", s)
	}
	if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, string(readKeyFile(t, "wechatpay_v2_api_key"))) {
		t.Fatal("snippet holds key material")
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "#") && strings.Contains(line, "{") {
			t.Errorf("commented-out directive: %q", line)
		}
	}
	live, err := Snippet(ps, keysDir(), "http://sandbox:9/")
	if err != nil || !strings.Contains(live, "endpoint http://sandbox:9/alipay/gateway.do\n") {
		t.Fatalf("sandbox URL: %v\n%s", err, live)
	}
	if _, err := HandlerBlock("x", []provider.Setting{{Name: "app_id", Args: []string{"a\nb"}}}); err == nil {
		t.Fatal("a newline in a value accepted")
	}
	_ = sandbox.Clip
}

// One keys directory, however it is spelled, is one sandbox's: its order
// book is shared.
func TestKeysDirPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if a, b := KeysDirPath("keys"), KeysDirPath("./keys/"); a != b || a != filepath.Join(dir, "keys") {
		t.Errorf("%q and %q", a, b)
	}
}
