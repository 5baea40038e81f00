package stdwebhooks

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

func loadSim(t *testing.T, dir sandbox.Dir, scheme string) provider.Sandbox {
	t.Helper()
	opts := provider.SandboxOptions{}
	if scheme != "" {
		opts.Params = map[string]string{"scheme": scheme}
	}
	s, err := loadSandbox(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGenerateKeys(t *testing.T) {
	files, err := generateKeys()
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{}
	for _, f := range files {
		modes[f.Name] = f.Mode
		if strings.HasSuffix(string(f.Data), "\n") {
			t.Errorf("%s ends in a newline", f.Name)
		}
	}
	want := map[string]os.FileMode{fileSecret: 0o600, filePrivateKey: 0o600, filePublicKey: 0o644}
	for name, mode := range want {
		if modes[name] != mode {
			t.Errorf("%s: mode %v, want %v", name, modes[name], mode)
		}
	}
	if len(files) != len(want) {
		t.Errorf("%d files", len(files))
	}
}

func TestSandboxLoad(t *testing.T) {
	if _, err := loadSandbox(sandbox.Dir(t.TempDir()), provider.SandboxOptions{}); !errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("empty dir: %v", err)
	}
	dir := providertest.KeyDir(t, Name)
	if _, err := loadSandbox(dir, provider.SandboxOptions{Params: map[string]string{"scheme": "v2"}}); err == nil {
		t.Fatal("scheme=v2 accepted")
	}
	// Another provider's knob in the same run is not ours to refuse.
	if _, err := loadSandbox(dir, provider.SandboxOptions{Params: map[string]string{"sign_type": "HMAC-SHA256"}}); err != nil {
		t.Fatalf("foreign param: %v", err)
	}
	// A public key that is not the private key's half.
	other := providertest.KeyDir(t, Name)
	b, _ := other.Read(filePublicKey)
	if err := os.WriteFile(dir.Path(filePublicKey), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSandbox(dir, provider.SandboxOptions{}); err == nil || !strings.Contains(err.Error(), "not the public half") {
		t.Fatalf("mixed pair: %v", err)
	}
	if err := os.Remove(dir.Path(fileSecret)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSandbox(dir, provider.SandboxOptions{}); err == nil || errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("partial dir: %v", err)
	}
}

// The sandbox's notification verifies at a sidecar built from its own
// Settings, for each scheme and status, with the order's fields (the
// Settings' status mapping); with scheme=v1a, which the conformance suite
// does not use, every tamper field and a stranger's keys are refused too.
func TestSandboxRoundTrip(t *testing.T) {
	dir := providertest.KeyDir(t, Name)
	now := time.Now().Truncate(time.Second)
	for _, scheme := range []string{"", "v1a"} {
		sim := loadSim(t, dir, scheme)
		built, err := Spec().BuildFromSettings(sim.Settings("http://127.0.0.1:1"), provider.Settings{})
		if err != nil {
			t.Fatalf("scheme %q: %v", scheme, err)
		}
		for status, want := range map[string]notification.Status{
			"succeeded": notification.StatusPaid, "refunded": notification.StatusRefunded,
			"canceled": notification.StatusClosed, "pending": notification.StatusPending, "failed": notification.StatusFailed,
		} {
			o := &sandbox.Order{Provider: Name, OutTradeNo: "SIM-1", Amount: 1234, Status: status}
			if err := sim.Prepare(o, now); err != nil {
				t.Fatal(err)
			}
			msg, err := sim.BuildNotify(o, "", now)
			if err != nil {
				t.Fatal(err)
			}
			v, err := built.Provider.VerifyNotify(&provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now})
			if err != nil {
				t.Fatalf("scheme %q %s: %v", scheme, status, err)
			}
			n := v.Notification
			if n.EventID != o.EventID || n.OutTradeNo != "SIM-1" || n.TransactionID != o.TransactionID || n.Amount != 1234 ||
				n.Currency != "USD" || n.Status != want || !v.Timestamp.Equal(now) {
				t.Fatalf("scheme %q %s: %+v at %v", scheme, status, n, v.Timestamp)
			}
		}
		if scheme == "" {
			continue // the conformance suite covers tampers and strangers for the default
		}
		o := &sandbox.Order{Provider: Name, OutTradeNo: "SIM-2", Amount: 500}
		if err := sim.Prepare(o, now); err != nil {
			t.Fatal(err)
		}
		for _, field := range tamperable {
			msg, err := sim.BuildNotify(o, field, now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = built.Provider.VerifyNotify(&provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now})
			wantCode(t, "tamper "+field, err, reason.BadSignature)
		}
		stranger := loadSim(t, providertest.KeyDir(t, Name), scheme)
		msg, err := stranger.BuildNotify(o, "", now)
		if err != nil {
			t.Fatal(err)
		}
		_, err = built.Provider.VerifyNotify(&provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now})
		wantCode(t, "stranger's keys", err, reason.BadSignature)
	}
}

func TestSandboxPrepare(t *testing.T) {
	sim := loadSim(t, providertest.KeyDir(t, Name), "")
	now := time.Now()
	o := &sandbox.Order{Provider: Name, OutTradeNo: "SIM-1", Amount: 1}
	if err := sim.Prepare(o, now); err != nil {
		t.Fatal(err)
	}
	first := *o
	if err := sim.Prepare(o, now); err != nil || *o != first {
		t.Fatalf("Prepare is not idempotent: %+v vs %+v (%v)", *o, first, err)
	}
	if !strings.HasPrefix(o.EventID, "msg_") || !strings.HasPrefix(o.TransactionID, "pay_") || o.Status != senderPaid || o.PaidAt.IsZero() {
		t.Fatalf("%+v", o)
	}
	for name, bad := range map[string]sandbox.Order{
		"status": {Provider: Name, OutTradeNo: "SIM-1", Amount: 1, Status: "paid"},
		"mch_id": {Provider: Name, OutTradeNo: "SIM-1", Amount: 1, MchID: "m"},
		"other":  {Provider: "stripe", OutTradeNo: "SIM-1", Amount: 1},
	} {
		if err := sim.Prepare(&bad, now); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := sim.BuildNotify(o, "sign", now); err == nil {
		t.Error("unknown tamper field accepted")
	}
}
