package paypal

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

func TestOptionRules(t *testing.T) {
	certFile := filepath.Join(keysDir, fileCert)
	secretFile := filepath.Join(keysDir, fileSecret)
	set := func(name string, args ...string) provider.Setting { return provider.Setting{Name: name, Args: args} }
	cases := []struct {
		name     string
		settings []provider.Setting
		wantErr  string // "" builds
		mode     string // the mode built: api or offline
		querier  bool
	}{
		{"offline fetch", []provider.Setting{set("webhook_id", "WH1")}, "", VerifyOffline, false},
		{"offline pinned", []provider.Setting{set("webhook_id", "WH1"), set("cert_file", certFile)}, "", VerifyOffline, false},
		{"api by default with credentials", []provider.Setting{set("webhook_id", "WH1"), set("client_id", "ID"), set("client_secret_file", secretFile)}, "", VerifyAPI, true},
		{"offline with credentials queries", []provider.Setting{set("webhook_id", "WH1"), set("verify", "offline"), set("client_id", "ID"), set("client_secret", "S")}, "", VerifyOffline, true},
		{"no webhook id", []provider.Setting{set("client_id", "ID"), set("client_secret", "S")}, "webhook_id is required", "", false},
		{"api without credentials", []provider.Setting{set("webhook_id", "WH1"), set("verify", "api")}, "verify api needs client_id", "", false},
		{"id without secret", []provider.Setting{set("webhook_id", "WH1"), set("client_id", "ID")}, "go together", "", false},
		{"cert_file with api", []provider.Setting{set("webhook_id", "WH1"), set("client_id", "ID"), set("client_secret", "S"), set("cert_file", certFile)}, "cert_file is for verify offline", "", false},
		{"unknown mode", []provider.Setting{set("webhook_id", "WH1"), set("verify", "trust")}, "verify must be", "", false},
		{"webhook id with pipe", []provider.Setting{set("webhook_id", "WH|1")}, "webhook_id", "", false},
		{"secret with newline", []provider.Setting{set("webhook_id", "WH1"), set("client_id", "ID"), set("client_secret", "S\n")}, "client_secret", "", false},
		{"api_base ftp", []provider.Setting{set("webhook_id", "WH1"), set("api_base", "ftp://x")}, "api_base", "", false},
		{"cert_file not PEM", []provider.Setting{set("webhook_id", "WH1"), set("cert_file", secretFile)}, "cert_file", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := tryResolveBuild(c.settings, provider.Settings{})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := b.Provider.(*Provider)
			if got := map[bool]string{true: VerifyAPI, false: VerifyOffline}[p.api != nil]; got != c.mode {
				t.Fatalf("mode %s, want %s", got, c.mode)
			}
			if (b.Querier != nil) != c.querier {
				t.Fatalf("querier %v, want %v", b.Querier != nil, c.querier)
			}
		})
	}
}

// TestSecretsNeverInErrors: an option error names the option, not the
// value.
func TestSecretsNeverInErrors(t *testing.T) {
	_, err := tryResolveBuild([]provider.Setting{{Name: "webhook_id", Args: []string{"WH1"}}, {Name: "client_id", Args: []string{"ID"}},
		{Name: "client_secret", Args: []string{"TOPSECRET value"}}}, provider.Settings{})
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("error %v", err)
	}
}

func TestPinnedCertExpiryWarned(t *testing.T) {
	var warned []string
	_, err := tryResolveBuild([]provider.Setting{{Name: "webhook_id", Args: []string{"WH1"}}, {Name: "cert_file", Args: []string{filepath.Join(keysDir, fileCert)}}},
		provider.Settings{Now: func() time.Time { return time.Now().AddDate(5, 0, -10) }, Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "expires") {
		t.Fatalf("warnings %q, want one about the expiring certificate", warned)
	}
}

func TestAcknowledge(t *testing.T) {
	p := &Provider{}
	if a := p.Acknowledge(true, reason.Forwarded, 200); a.Status != http.StatusOK {
		t.Fatalf("accepted: %+v", a)
	}
	if a := p.Acknowledge(true, reason.Duplicate, 200); a.Status != http.StatusOK {
		t.Fatalf("duplicate: %+v", a)
	}
	for _, code := range reason.All {
		if code == reason.Forwarded || code == reason.Duplicate || code == reason.Watching {
			continue
		}
		want := reason.HTTPStatus(code)
		if a := p.Acknowledge(false, code, want); a.Status != want {
			t.Errorf("%s: status %d, want %d", code, a.Status, want)
		}
		if a := p.Acknowledge(false, code, 0); a.Status != want {
			t.Errorf("%s without a status: %d, want %d", code, a.Status, want)
		}
	}
}

// TestSandboxKeysFiles: every file is prefixed, private material is 0600,
// and Load tells no keys from some keys.
func TestSandboxKeysFiles(t *testing.T) {
	files, err := generateKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasPrefix(f.Name, Name+"_") {
			t.Errorf("%s is not prefixed %s_", f.Name, Name)
		}
		if (f.Name == fileKey || f.Name == fileSecret) != (f.Mode == 0o600) {
			t.Errorf("%s mode %o", f.Name, f.Mode)
		}
	}
	empty := t.TempDir()
	if _, err := loadSandbox(sandboxDir(empty), provider.SandboxOptions{}); err == nil || !isNoKeys(err) {
		t.Fatalf("empty dir: %v, want sandbox.ErrNoKeys", err)
	}
	if err := os.WriteFile(filepath.Join(empty, fileCert), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSandbox(sandboxDir(empty), provider.SandboxOptions{}); err == nil || isNoKeys(err) {
		t.Fatalf("partial dir: %v, want an error naming what is missing", err)
	}
}

func TestPlainHTTPAPIBaseWarned(t *testing.T) {
	for base, want := range map[string]int{"http://paypal.internal.example": 1, "http://127.0.0.1:9002/paypal": 0, "https://api-m.sandbox.paypal.com": 0} {
		var warned []string
		_, err := tryResolveBuild([]provider.Setting{{Name: "webhook_id", Args: []string{"WH1"}}, {Name: "api_base", Args: []string{base}}},
			provider.Settings{Warn: func(m string) { warned = append(warned, m) }})
		if err != nil {
			t.Fatal(err)
		}
		if len(warned) != want {
			t.Errorf("%s: warnings %q, want %d", base, warned, want)
		}
	}
}
