package simcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/cli/clitest"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/alipay"
	_ "github.com/payguard/payguard/internal/provider/all"
	"github.com/payguard/payguard/internal/sim"
)

// runSim runs `payguard sim <args>` and returns stdout, stderr and the
// error.
func runSim(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	res := clitest.Run(ctx, Name, Build, args...)
	return res.Out, res.Err, res.Error
}

func writeKeys(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := sim.WriteKeys(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadKeys(t *testing.T, dir string) []*sim.Provider {
	t.Helper()
	ps, err := sim.Load(dir, provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestSimServeCommand(t *testing.T) {
	dir := writeKeys(t)
	port := clitest.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, _, err = runSim(t, ctx, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--keys", dir)
		done <- err
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/_sim/providers"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		cancel()
		t.Fatalf("sandbox never answered: %v", err)
	}
	var infos []sim.ProviderInfo
	_ = json.NewDecoder(resp.Body).Decode(&infos)
	resp.Body.Close()
	if len(infos) != len(loadKeys(t, dir)) || infos[0].Name != "alipay" || infos[0].Currency != "CNY" {
		t.Errorf("providers: %+v", infos)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(out, "sandbox on "+base) || !strings.Contains(out, "  alipay\n") || !strings.Contains(out, "stopped") {
		t.Errorf("serve output:\n%s", out)
	}
	if _, _, err := runSim(t, context.Background(), "serve", "--keys", t.TempDir()); err == nil {
		t.Error("serve with an empty keys directory")
	}
}

func TestSimNotifyProviderNeedsKeys(t *testing.T) {
	// A key directory with Alipay keys only: a WeChat notify says what to do.
	dir := t.TempDir()
	for _, f := range []string{alipay.FileSandboxKey, alipay.FileSandboxPublic, alipay.FileSandboxAppKey, alipay.FileSandboxAppPublic} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "keys", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := runSim(t, context.Background(), "notify", "wechatpay_v3", "--to", "http://127.0.0.1:1", "--keys", dir)
	if err == nil || !strings.Contains(err.Error(), "not simulated with the keys in") || !strings.Contains(err.Error(), "simulated: alipay") {
		t.Fatalf("%v", err)
	}
}

func TestSimNotifyDeliveryFailureExitCode(t *testing.T) {
	dir := writeKeys(t)
	out, _, err := runSim(t, context.Background(), "notify", "alipay", "--to", "http://127.0.0.1:1/notify", "--sandbox", "", "--keys", dir, "--timeout", "2s")
	if err == nil || !strings.Contains(out, "1: error:") {
		t.Fatalf("unreachable sidecar: %v\n%s", err, out)
	}
}

// One line per delivery, the body quoted and cut; the exit status is 1
// when one failed or was not answered as expected (--expect, or forwarded
// and duplicate without it).
func TestReport(t *testing.T) {
	long := strings.Repeat("x", 301)
	ok := []sim.Delivery{{Status: 200, Reason: "forwarded", Body: []byte("success")}, {Status: 200, Reason: "duplicate", Body: []byte("a\nb")}}
	for _, c := range []struct {
		ds            []sim.Delivery
		expect, lines string
		code          int
		err           string
	}{
		{ok, "", "1: 200 forwarded \"success\"\n2: 200 duplicate \"a\\nb\"\n", 0, ""},
		{ok, "duplicate", "", 1, "1 of 2 answers were not duplicate"},
		{[]sim.Delivery{{Status: 401, Reason: "bad_signature", Body: []byte("fail")}}, "", "", 1, "1 of 1 answers were not forwarded or duplicate"},
		{[]sim.Delivery{{Err: errors.New("refused")}, ok[0]}, "", "1: error: refused\n", 1, "1 of 2 deliveries failed"},
		{[]sim.Delivery{{Status: 502, Body: []byte(long)}}, "", "1: 502 - \"" + long[:300] + "\"...\n", 1, "not forwarded or duplicate"},
	} {
		var out strings.Builder
		code, err := report(&out, c.ds, c.expect)
		if code != c.code || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v --expect %q: %d %v, want %d %q", c.ds, c.expect, code, err, c.code, c.err)
		}
		if c.lines != "" && !strings.HasPrefix(out.String(), c.lines) {
			t.Errorf("printed %q, want %q", out.String(), c.lines)
		}
	}
}
