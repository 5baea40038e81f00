package stripe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

// simWorld is a sandbox with fresh keys serving its API, and the sidecar
// its Settings describe.
type simWorld struct {
	sim     provider.Sandbox
	book    *sandbox.OrderBook
	built   provider.Built
	baseURL string
}

func newSimWorld(t *testing.T) *simWorld {
	t.Helper()
	dir := providertest.KeyDir(t, Name)
	sim, err := Spec.Sandbox.Load(dir, provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &simWorld{sim: sim, book: sandbox.NewOrderBook()}
	mux := http.NewServeMux()
	sim.Mount(mux, w.book)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w.baseURL = srv.URL

	v := provider.Values{}
	set := provider.Settings{}
	for _, s := range sim.Settings(srv.URL) {
		if s.Query && s.Name == "endpoint" {
			set.QueryEndpoint = s.Args[0]
			continue
		}
		v[s.Name] = s.Args
	}
	if w.built, _, err = buildFrom(t, v, set); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *simWorld) order(t *testing.T, o sandbox.Order) *sandbox.Order {
	t.Helper()
	o.Provider = Name
	if o.OutTradeNo == "" {
		o.OutTradeNo = sandbox.NewOutTradeNo(testNow)
	}
	if err := w.sim.Prepare(&o, testNow); err != nil {
		t.Fatal(err)
	}
	w.book.Put(o)
	return &o
}

func (w *simWorld) deliver(t *testing.T, o *sandbox.Order, tamper string) (*provider.Verified, error) {
	t.Helper()
	m, err := w.sim.BuildNotify(o, tamper, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return w.built.Provider.VerifyNotify(&provider.Request{Method: m.Method, Path: "/stripe", Header: m.Header, Body: m.Body, Now: testNow})
}

func TestSandboxRoundTrip(t *testing.T) {
	w := newSimWorld(t)
	for _, c := range []struct {
		currency string
		amount   int64
		status   string
		want     notification.Status
	}{
		{"USD", 1234, "", notification.StatusPaid},
		{"ISK", 1500, "succeeded", notification.StatusPaid},
		{"JPY", 980, "processing", notification.StatusPending},
		{"UGX", 20000, "requires_payment_method", notification.StatusFailed},
		{"EUR", 500, "canceled", notification.StatusClosed},
		{"USD", 700, "refunded", notification.StatusRefunded},
	} {
		o := w.order(t, sandbox.Order{Amount: c.amount, Currency: c.currency, Status: c.status})
		v, err := w.deliver(t, o, "")
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		n := v.Notification
		if n.Status != c.want || n.Amount != c.amount || n.Currency != c.currency || n.OutTradeNo != o.OutTradeNo ||
			n.TransactionID != o.TransactionID || n.EventID != o.EventID || !v.Timestamp.Equal(testNow) {
			t.Fatalf("%+v: %+v", c, n)
		}
		if c.want == notification.StatusRefunded && (n.RefundAmount != c.amount || !strings.HasPrefix(n.RefundID, "re_")) {
			t.Fatalf("refund %+v", n)
		}
		res, err := w.built.Querier.QueryOrder(context.Background(), &n)
		if err != nil {
			t.Fatalf("%+v: query: %v", c, err)
		}
		if res.Status != c.want || res.Amount != c.amount {
			t.Fatalf("%+v: query %+v", c, res)
		}
		byNo, err := w.built.Querier.(provider.OrderQuerier).QueryByOrderNo(context.Background(), o.OutTradeNo)
		if err != nil {
			t.Fatalf("%+v: search: %v", c, err)
		}
		if byNo.TransactionID != o.TransactionID || byNo.Currency != c.currency {
			t.Fatalf("%+v: search %+v", c, byNo)
		}
	}
}

func TestSandboxTamperRefused(t *testing.T) {
	w := newSimWorld(t)
	o := w.order(t, sandbox.Order{Amount: 1000})
	for _, f := range Spec.Sandbox.Tamperable {
		t.Run(f, func(t *testing.T) {
			_, err := w.deliver(t, o, f)
			wantCode(t, err, reason.BadSignature)
		})
	}
	if _, err := w.sim.BuildNotify(o, "nonsense", testNow); err == nil {
		t.Fatal("an unknown tamper field was accepted")
	}
}

func TestSandboxQueryDisagrees(t *testing.T) {
	w := newSimWorld(t)
	for _, o := range []sandbox.Order{
		{Amount: 1000, QueryAmount: 1},
		{Amount: 1000, QueryStatus: "processing"},
	} {
		ord := w.order(t, o)
		v, err := w.deliver(t, ord, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.built.Querier.QueryOrder(context.Background(), &v.Notification)
		wantCode(t, err, reason.QueryMismatch)
	}
	_, err := w.built.Querier.(provider.OrderQuerier).QueryByOrderNo(context.Background(), "UNKNOWN-ORDER")
	wantCode(t, err, reason.QueryMismatch)
}

func TestSandboxAPIKey(t *testing.T) {
	w := newSimWorld(t)
	for _, path := range []string{"/stripe/v1/events/evt_x", "/stripe/v1/payment_intents/search?query=x"} {
		req, _ := http.NewRequest(http.MethodGet, w.baseURL+path, nil)
		req.Header.Set("Authorization", "Bearer sk_test_wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s with a wrong key: %d", path, resp.StatusCode)
		}
	}
	// A stranger's keys: another sandbox's secret does not verify here.
	other := newSimWorld(t)
	o := other.order(t, sandbox.Order{Amount: 100})
	m, err := other.sim.BuildNotify(o, "", testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.built.Provider.VerifyNotify(&provider.Request{Method: m.Method, Header: m.Header, Body: m.Body, Now: testNow})
	wantCode(t, err, reason.BadSignature)
}

func TestSandboxLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Spec.Sandbox.Load(sandbox.Dir(dir), provider.SandboxOptions{}); !errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("empty dir: %v", err)
	}
	_ = os.WriteFile(sandbox.Dir(dir).Path(sandboxSecretFile), []byte(testSecret), 0o600)
	if _, err := Spec.Sandbox.Load(sandbox.Dir(dir), provider.SandboxOptions{}); err == nil || errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("half a key set: %v", err)
	}
	_ = os.WriteFile(sandbox.Dir(dir).Path(sandboxAPIKeyFile), []byte("pk_test_x"), 0o600)
	if _, err := Spec.Sandbox.Load(sandbox.Dir(dir), provider.SandboxOptions{}); err == nil || strings.Contains(err.Error(), "pk_test_x") {
		t.Fatalf("publishable key: %v", err)
	}
}

func TestSandboxPrepare(t *testing.T) {
	w := newSimWorld(t)
	for name, o := range map[string]sandbox.Order{
		"unknown status":   {Amount: 1, Status: "paid"},
		"unknown currency": {Amount: 100, Currency: "IQD"},
		"bad transaction":  {Amount: 1, TransactionID: "ch_1"},
		"bad event":        {Amount: 1, EventID: "event1"},
	} {
		o.Provider, o.OutTradeNo = Name, "O1"
		if err := w.sim.Prepare(&o, testNow); err == nil {
			t.Errorf("%s: prepared", name)
		}
	}
	o := sandbox.Order{Provider: Name, OutTradeNo: "O1", Amount: 5}
	if err := w.sim.Prepare(&o, testNow); err != nil {
		t.Fatal(err)
	}
	again := o
	if err := w.sim.Prepare(&again, testNow.Add(time.Hour)); err != nil || again != o {
		t.Fatalf("Prepare is not idempotent: %+v vs %+v (%v)", again, o, err)
	}
}

// The repository's public sandbox pair (examples/keys, named by
// examples/stripe/Caddyfile) loads and builds a sidecar.
func TestExampleKeys(t *testing.T) {
	dir := sandbox.Dir("../../../examples/keys")
	sim, err := Spec.Sandbox.Load(dir, provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := provider.Values{}
	for _, s := range sim.Settings("http://127.0.0.1:1") {
		if s.Name != "endpoint" {
			v[s.Name] = s.Args
		}
	}
	if _, _, err := buildFrom(t, v, provider.Settings{}); err != nil {
		t.Fatal(err)
	}
}
