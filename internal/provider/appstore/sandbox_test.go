package appstore

import (
	"context"
	"errors"
	"net/http"
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

func loadTestSandbox(t *testing.T, dir sandbox.Dir, params map[string]string) *appStoreSandbox {
	t.Helper()
	s, err := loadSandbox(dir, provider.SandboxOptions{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*appStoreSandbox)
}

// sidecar builds the provider a sidecar for s would run, from s.Settings
// through the spec's own option table and Resolve.
func sidecar(t *testing.T, s provider.Sandbox, base string) provider.Built {
	t.Helper()
	spec, ok := provider.Lookup(Name)
	if !ok {
		t.Fatal("appstore is not registered")
	}
	values := provider.Values{}
	var set provider.Settings
	for _, st := range s.Settings(base) {
		if st.Query && st.Name == "endpoint" {
			set.QueryEndpoint = st.Args[0]
			continue
		}
		opt, file, ok := spec.Option(st.Name, st.Query)
		if !ok {
			t.Fatalf("setting %s is no option of the spec", st.Name)
		}
		key := opt.JSONKey()
		if file {
			key = opt.FileKey()
		}
		values[key] = st.Args
	}
	env, err := spec.Resolve(values, nil, set)
	if err != nil {
		t.Fatal(err)
	}
	built, err := spec.Build(env)
	if err != nil {
		t.Fatal(err)
	}
	return built
}

func TestSandboxKeyFiles(t *testing.T) {
	files, err := generateSandboxKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasPrefix(f.Name, Name+"_") {
			t.Errorf("%s is not prefixed with the provider name", f.Name)
		}
		private := strings.Contains(f.Name, "key")
		if private != (f.Mode == 0o600) {
			t.Errorf("%s has mode %o", f.Name, f.Mode)
		}
	}
	if _, err := loadSandbox(sandbox.Dir(t.TempDir()), provider.SandboxOptions{}); !errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("empty directory: %v, want ErrNoKeys", err)
	}
	dir := providertest.KeyDir(t, Name)
	if err := os.Remove(dir.Path(sandboxLeafKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSandbox(dir, provider.SandboxOptions{}); err == nil || errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("incomplete directory: %v", err)
	}
	if _, err := loadSandbox(providertest.KeyDir(t, Name), provider.SandboxOptions{Params: map[string]string{"environment": "Xcode"}}); err == nil {
		t.Fatal("environment Xcode accepted")
	}
}

func TestSandboxNotificationsVerify(t *testing.T) {
	s := loadTestSandbox(t, providertest.KeyDir(t, Name), nil)
	p := sidecar(t, s, "http://127.0.0.1:1").Provider
	now := time.Now()
	for _, c := range []struct {
		status   string
		currency string
		amount   int64
		want     notification.Status
	}{
		{"", "", 1234, notification.StatusPaid},
		{"DID_RENEW", "JPY", 1200, notification.StatusPaid},
		{"REFUND", "USD", 499, notification.StatusRefunded},
		{"EXPIRED", "KWD", 1005, notification.StatusClosed},
	} {
		o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: c.amount, Currency: c.currency, Status: c.status}
		msg, err := s.BuildNotify(o, "", now)
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.VerifyNotify(&provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now})
		if err != nil {
			t.Fatalf("%s: %v", c.status, err)
		}
		n := v.Notification
		if n.EventID != o.EventID || n.OutTradeNo != o.OutTradeNo || n.TransactionID != o.TransactionID ||
			n.Amount != o.Amount || n.Currency != o.Currency || n.Status != c.want {
			t.Fatalf("%s: notification %+v for order %+v", c.status, n, o)
		}
		if !v.EventTime.Equal(now.Truncate(time.Millisecond)) {
			t.Fatalf("EventTime %v, want %v", v.EventTime, now)
		}
	}
}

func TestSandboxTampersRefused(t *testing.T) {
	s := loadTestSandbox(t, providertest.KeyDir(t, Name), nil)
	p := sidecar(t, s, "http://127.0.0.1:1").Provider
	now := time.Now()
	for _, tamper := range sandboxSpec.Tamperable {
		t.Run(tamper, func(t *testing.T) {
			o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: 990}
			msg, err := s.BuildNotify(o, tamper, now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.VerifyNotify(&provider.Request{Method: msg.Method, Body: msg.Body, Now: now})
			wantCode(t, err, reason.BadSignature)
		})
	}
	if _, err := s.BuildNotify(&sandbox.Order{Provider: Name, OutTradeNo: "X1", Amount: 1}, "amount", now); err == nil {
		t.Fatal("unknown tamper field accepted")
	}
	// A stranger's sandbox (another root) is refused too.
	stranger := loadTestSandbox(t, providertest.KeyDir(t, Name), nil)
	msg, err := stranger.BuildNotify(&sandbox.Order{Provider: Name, OutTradeNo: "X2", Amount: 990}, "", now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.VerifyNotify(&provider.Request{Method: msg.Method, Body: msg.Body, Now: now})
	wantCode(t, err, reason.BadSignature)
}

func TestSandboxPrepare(t *testing.T) {
	s := loadTestSandbox(t, providertest.KeyDir(t, Name), nil)
	now := time.Now()
	o := &sandbox.Order{Provider: Name, OutTradeNo: "ORDER1", Amount: 1234}
	if err := s.Prepare(o, now); err != nil {
		t.Fatal(err)
	}
	if o.Currency != "USD" || o.Status != "ONE_TIME_CHARGE" || o.AppID != SandboxBundleID || len(o.TransactionID) != 16 || checkID("event", o.EventID) != nil || o.PaidAt.IsZero() {
		t.Fatalf("prepared %+v", o)
	}
	before := *o
	if err := s.Prepare(o, now.Add(time.Hour)); err != nil || *o != before {
		t.Fatalf("Prepare is not idempotent: %+v, %v", o, err)
	}
	for name, bad := range map[string]sandbox.Order{
		"status":   {Provider: Name, OutTradeNo: "O", Amount: 1, Status: "PAID"},
		"provider": {Provider: "alipay", OutTradeNo: "O", Amount: 1},
		"CLF cent": {Provider: Name, OutTradeNo: "O", Amount: 1, Currency: "CLF"}, // 0.0001 CLF is no milliunit
	} {
		if err := s.Prepare(&bad, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The sandbox's Get Transaction Info answers only tokens signed with its
// App Store Connect key.
func TestSandboxQueryAPIChecksToken(t *testing.T) {
	dir := providertest.KeyDir(t, Name)
	s := loadTestSandbox(t, dir, nil)
	book, srv := providertest.Serve(t, s)
	now := time.Now()
	o := sandbox.Order{Provider: Name, OutTradeNo: "ORDER2", Amount: 990}
	if err := s.Prepare(&o, now); err != nil {
		t.Fatal(err)
	}
	book.Put(o)
	q := sidecar(t, s, srv.URL).Querier.(*Querier)
	ask := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/appstore"+transactionPath+o.TransactionID, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok, err := q.token(now)
	if err != nil {
		t.Fatal(err)
	}
	if got := ask("Bearer " + tok); got != http.StatusOK {
		t.Fatalf("genuine token: %d", got)
	}
	stale, _ := q.token(now.Add(-10 * time.Minute))
	other := *q
	other.key = newKey(t)
	forged, _ := other.token(now)
	other = *q
	other.v.bundleID = "com.example.other"
	otherApp, _ := other.token(now)
	for name, auth := range map[string]string{
		"none": "", "not bearer": "Basic " + tok, "expired": "Bearer " + stale,
		"another key": "Bearer " + forged, "another app": "Bearer " + otherApp,
		"flipped": "Bearer " + flipSignature(tok),
	} {
		if got := ask(auth); got != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, got)
		}
	}
}

// The committed sandbox keys (examples/keys/appstore_*, which
// examples/appstore/Caddyfile's simulator route pins) load, and a sidecar
// built on them verifies the sandbox's notifications and queries it.
func TestCommittedExampleKeys(t *testing.T) {
	s := loadTestSandbox(t, sandbox.Dir("../../../examples/keys"), nil)
	book, srv := providertest.Serve(t, s)
	built := sidecar(t, s, srv.URL)
	now := time.Now()
	o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: 990}
	msg, err := s.BuildNotify(o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	book.Put(*o)
	v, err := built.Provider.VerifyNotify(&provider.Request{Method: msg.Method, Body: msg.Body, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	res, err := built.Querier.QueryOrder(context.Background(), &v.Notification)
	if err != nil || res.Amount != 990 || res.TransactionID != o.TransactionID {
		t.Fatalf("query: %+v, %v", res, err)
	}
}
