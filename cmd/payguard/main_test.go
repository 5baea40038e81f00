package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/cli/clitest"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/store/redistest"
)

// binary is the payguard command built once for these tests: they run it
// as an operator would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "payguard-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "payguard")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building payguard: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestValidateRootCaddyfile(t *testing.T) {
	out, err := run(t, "../..", "validate", "--config", "Caddyfile")
	if err != nil || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("the repository's Caddyfile does not validate: %v\n%s", err, out)
	}
}

func TestValidateNamesLineAndReason(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "alipay_public.pem")
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecFile := filepath.Join(dir, "ec.pem")
	os.WriteFile(ecFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), 0o600)
	cases := []struct {
		name, body, want string
	}{
		{"missing app_id", "payguard alipay {\n\t\tpublic_key_file " + keyFile + "\n\t}", "alipay: app_id is required, at " + dir + "/Caddyfile:2"},
		{"missing key", "payguard alipay {\n\t\tapp_id 1\n\t}", "the Alipay key is required"},
		{"unreadable key", "payguard alipay {\n\t\tapp_id 1\n\t\tpublic_key_file " + dir + "/nope.pem\n\t}", "public_key_file: cannot read " + dir + "/nope.pem: no such file or directory, at " + dir + "/Caddyfile:4"},
		{"not RSA", "payguard alipay {\n\t\tapp_id 1\n\t\tpublic_key_file " + ecFile + "\n\t}", "public_key_file: key is ECDSA, not RSA, at " + dir + "/Caddyfile:4"},
		{"not a key", "payguard alipay {\n\t\tapp_id 1\n\t\tpublic_key_file " + dir + "/Caddyfile\n\t}", "public_key_file: neither PEM nor base64 DER, at " + dir + "/Caddyfile:4"},
		{"bad allow_ips", "payguard alipay {\n\t\tapp_id 1\n\t\tpublic_key_file " + keyFile + "\n\t\tallow_ips 10.0.0.300\n\t}", "10.0.0.300\\\" is not an IP or CIDR, at " + dir + "/Caddyfile:5"},
	}
	for _, c := range cases {
		cf := filepath.Join(dir, "Caddyfile")
		os.WriteFile(cf, []byte(":8080 {\n\t"+c.body+"\n}\n"), 0o600)
		out, err := run(t, dir, "validate", "--config", cf)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: err %v, output does not contain %q:\n%s", c.name, err, c.want, out)
		}
	}
	// The same checks hold for JSON configs, at provision.
	js := filepath.Join(dir, "config.json")
	os.WriteFile(js, []byte(`{"apps":{"http":{"servers":{"s":{"listen":[":8080"],"routes":[{"handle":[
		{"handler":"payguard","provider":{"name":"alipay","app_id":"1","public_key_file":"`+dir+`/nope.pem"}}]}]}}}}}`), 0o600)
	out, err := run(t, dir, "validate", "--config", js)
	if err == nil || !strings.Contains(out, "public_key_file: cannot read") {
		t.Errorf("JSON config with an unreadable key: %v\n%s", err, out)
	}
}

// freePort is a loopback port to listen on.
func freePort(t *testing.T) int { return clitest.FreePort(t) }

// TestTwoInstancesShareRedis runs two payguard processes on one Redis, as a
// fleet of sidecars does: twenty copies of one notification, sent to both
// at once, reach the shop exactly once.
func TestTwoInstancesShareRedis(t *testing.T) {
	redis := redistest.Start(t)
	var mu sync.Mutex
	delivered := 0
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(20 * time.Millisecond) // a shop that takes its time widens the race
		mu.Lock()
		delivered++
		mu.Unlock()
		io.WriteString(w, "success") // the legacy Alipay handler took it
	}))
	defer shop.Close()

	dir := t.TempDir()
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	keyFile := filepath.Join(dir, "alipay_public.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)

	var bases []string
	for i := 0; i < 2; i++ {
		port := freePort(t)
		cf := filepath.Join(dir, fmt.Sprintf("Caddyfile%d", i))
		os.WriteFile(cf, []byte(fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	payguard {
		store redis %s
	}
}
http://127.0.0.1:%d {
	payguard alipay {
		app_id 2021000000000001
		public_key_file %s
	}
	reverse_proxy %s
}
`, redis.URL(), port, keyFile, strings.TrimPrefix(shop.URL, "http://"))), 0o600)
		cmd := exec.Command(binary, "run", "--config", cf, "--adapter", "caddyfile")
		cmd.Dir = dir
		logf, _ := os.Create(cf + ".log")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		waitUp(t, base, cf+".log")
		bases = append(bases, base)
	}

	body, err := (&alipay.Signer{Key: priv}).SignNotify(alipay.SampleNotifyParams("2021000000000001", "fleet-order", "42.00", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	reasons := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Post(bases[i%2], "application/x-www-form-urlencoded", strings.NewReader(string(body)))
			if err != nil {
				reasons <- err.Error()
				return
			}
			resp.Body.Close()
			reasons <- resp.Header.Get("Payguard-Reason")
		}(i)
	}
	wg.Wait()
	close(reasons)
	counts := map[string]int{}
	for r := range reasons {
		counts[r]++
	}
	mu.Lock()
	defer mu.Unlock()
	if delivered != 1 || counts["forwarded"] != 1 || counts["in_flight"]+counts["duplicate"] != 19 {
		t.Fatalf("shop got %d deliveries; answers %v", delivered, counts)
	}
}

func waitUp(t *testing.T, base, logFile string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("payguard at %s did not come up:\n%s", base, log)
}

// The binary presents itself as payguard: the root help is payguard's,
// every command's usage line says payguard, payguard's own commands carry
// examples and no Caddy footer.
func TestHelpSpeaksPayguard(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}} {
		out, err := run(t, ".", args...)
		if err != nil {
			t.Fatalf("payguard %v: %v\n%s", args, err, out)
		}
		for _, want := range []string{"payguard verifies payment-provider notifications", "Usage:\n  payguard <command>",
			"payguard commands:", "  audit ", "  sim ", "  policy ", "Caddy commands:", "  run ", "  validate ",
			"$ payguard sim notify alipay"} {
			if !strings.Contains(out, want) {
				t.Errorf("payguard %v lacks %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(strings.ToLower(out), "caddy run") || strings.Contains(out, "caddyserver.com") {
			t.Errorf("payguard %v still speaks Caddy:\n%s", args, out)
		}
	}
	cases := map[string][]string{
		"run":         {"Usage:\n  payguard run"},
		"sim":         {"Usage:\n  payguard sim", "Examples", "payguard sim notify alipay --to", "--expect bad_signature", "docs/"},
		"sim notify":  {"payguard sim notify <provider> --to <url>", "exit status is 0", "--expect REASON"},
		"audit":       {"Usage:\n  payguard audit", "payguard audit find --file", "payguard audit tail --file", "--follow", "docs/"},
		"audit find":  {"payguard audit find (--file PATH | --redis URL)", "--order", "--event", "--transaction", "--json", "Exit status"},
		"audit tail":  {"payguard audit tail", "--follow", "--provider", "--outcome", "--reason", "-n, --lines"},
		"policy test": {"payguard policy test"},
	}
	for sub, wants := range cases {
		out, err := run(t, ".", append(strings.Fields(sub), "--help")...)
		if err != nil {
			t.Fatalf("payguard %s --help: %v\n%s", sub, err, out)
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("payguard %s --help lacks %q:\n%s", sub, want, out)
			}
		}
		if strings.HasPrefix(sub, "sim") || strings.HasPrefix(sub, "audit") || strings.HasPrefix(sub, "policy") {
			if strings.Contains(out, "caddyserver.com") {
				t.Errorf("payguard %s --help ends in Caddy's footer:\n%s", sub, out)
			}
		}
	}
}

// payguard audit's exit status: 0 found, 1 nothing found, 2 a usage or
// read error, so scripts can tell "no such order" from "cannot read".
func TestAuditExitStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	os.WriteFile(path, []byte(`{"time":"2026-01-02T03:04:05Z","provider":"alipay","event_id":"e1","out_trade_no":"A","transaction_id":"t1","amount":1,"currency":"CNY","status":"paid","outcome":"forwarded","reason":"forwarded","query":null,"remote_ip":"","duration_ms":1,"trace_id":"","body":""}`+"\n"), 0o600)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"audit", "find", "--file", path, "--order", "A"}, 0},
		{[]string{"audit", "find", "--file", path, "--order", "B"}, 1},
		{[]string{"audit", "find", "--file", filepath.Join(dir, "none"), "--order", "A"}, 2},
		{[]string{"audit", "find", "--file", path}, 2},
		{[]string{"audit", "tail", "--file", path}, 0},
	} {
		out, err := run(t, dir, c.args...)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code {
			t.Errorf("payguard %v: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
	}
}

// The local stack listens on loopback only, its admin endpoint too: the
// README says how to expose it.
func TestRootCaddyfileLoopbackOnly(t *testing.T) {
	out, err := run(t, "../..", "adapt", "--config", "Caddyfile")
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, out)
	}
	var cfg struct {
		Admin struct {
			Listen string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	// adapt prints the JSON on stdout; warnings go to stderr (combined here).
	start := strings.Index(out, "{\"admin\"")
	if start < 0 || json.Unmarshal([]byte(strings.SplitN(out[start:], "\n", 2)[0]), &cfg) != nil {
		t.Fatalf("no adapted JSON in:\n%s", out)
	}
	n := 0
	for name, s := range cfg.Apps.HTTP.Servers {
		for _, l := range s.Listen {
			n++
			if !strings.HasPrefix(l, "127.0.0.1:") {
				t.Errorf("server %s listens on %q, not loopback", name, l)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d listeners: want the sidecar, the shop and the sandbox", n)
	}
	if a := cfg.Admin.Listen; a != "localhost:2019" && a != "127.0.0.1:2019" {
		t.Errorf("admin listens on %q", a)
	}
}
