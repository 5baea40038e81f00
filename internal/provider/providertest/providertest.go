// Package providertest is the provider conformance suite: the properties
// every registered provider must have, checked against its own sandbox
// (like Caddy's encode conformance tests). A provider gets it by
// registering; its own tests keep only what is specific to it.
//
// The suite checks: a genuine notification verifies and normalizes; every
// tamper field is refused; a stranger's keys are refused; the
// acknowledgements are DESIGN.md section 5's row for the provider;
// verification never panics on mutated input; and, for providers with a
// query, the query confirms, detects a mismatch, reports an outage and
// never follows a redirect.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
	"github.com/payguard/payguard/internal/sim"
)

// Fixture is one provider's sandbox and the real provider configured for
// it, with the sandbox's query API served.
type Fixture struct {
	Spec    *provider.Spec
	Sandbox *sim.Provider
	Server  *sim.Server
	HTTP    *httptest.Server
	Built   provider.Built
	Now     time.Time
}

// NewFixture writes fresh keys for the provider into a temporary
// directory and builds both sides.
func NewFixture(t testing.TB, name string) *Fixture {
	t.Helper()
	spec, ok := provider.Lookup(name)
	if !ok || spec.Sandbox == nil {
		t.Fatalf("%s is not registered with a sandbox", name)
	}
	sb := loadSandbox(t, spec)
	srv, err := sim.NewServer(sim.ServerConfig{Providers: []*sim.Provider{sb}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	f := &Fixture{Spec: spec, Sandbox: sb, Server: srv, HTTP: hs, Now: time.Now()}
	f.Built = f.BuildAt(t, hs.URL)
	return f
}

// loadSandbox writes the spec's fresh keys into a temporary directory and
// loads its sandbox from there.
func loadSandbox(t testing.TB, spec *provider.Spec) *sim.Provider {
	t.Helper()
	dir := KeyDir(t, spec.Name)
	s, err := spec.Sandbox.Load(dir, provider.SandboxOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewProvider(spec.Name, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// KeyDir writes fresh sandbox keys of the registered provider name into a
// temporary directory. Every file must be prefixed with the provider's
// name (wechatpay for wechatpay_v3), private material 0600 and public
// 0644, as sandbox.KeyFile says: keys directories are shared by every
// provider.
func KeyDir(t testing.TB, name string) sandbox.Dir {
	t.Helper()
	spec, ok := provider.Lookup(name)
	if !ok || spec.Sandbox == nil {
		t.Fatalf("%s is not registered with a sandbox", name)
	}
	files, err := spec.Sandbox.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if !strings.HasPrefix(f.Name, strings.SplitN(name, "_", 2)[0]+"_") {
			t.Errorf("key file %s is not prefixed with the provider's name", f.Name)
		}
		if f.Mode != 0o600 && f.Mode != 0o644 {
			t.Errorf("key file %s has mode %o, not 0600 (private) or 0644 (public)", f.Name, f.Mode)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	return sandbox.Dir(dir)
}

// BuildAt builds the real provider configured for the sandbox served at
// base (its query endpoint points there).
func (f *Fixture) BuildAt(t testing.TB, base string) provider.Built {
	t.Helper()
	b, err := f.Spec.BuildFromSettings(f.Sandbox.Settings(base), provider.Settings{
		Tolerance: 5 * time.Minute, MaxAge: 72 * time.Hour, QueryTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("%s: building from the sandbox's settings: %v", f.Spec.Name, err)
	}
	return b
}

// Order returns a prepared order, registered with the sandbox.
func (f *Fixture) Order(t testing.TB, mutate ...func(*sandbox.Order)) sandbox.Order {
	t.Helper()
	o := sandbox.Order{Provider: f.Spec.Name, OutTradeNo: sandbox.NewOutTradeNo(f.Now), Amount: 1234}
	for _, m := range mutate {
		m(&o)
	}
	if err := f.Sandbox.Prepare(&o, f.Now); err != nil {
		t.Fatal(err)
	}
	f.Server.Book().Put(o)
	return o
}

// Notify signs a notification for o.
func (f *Fixture) Notify(t testing.TB, o sandbox.Order, tamper string) *sandbox.Message {
	t.Helper()
	m, err := f.Sandbox.BuildNotify(&o, tamper, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Verify runs the real verifier on a message.
func Verify(p provider.Provider, m *sandbox.Message, now time.Time) (*provider.Verified, error) {
	req := &provider.Request{Method: m.Method, Path: "/notify", Header: m.Header.Clone(), Body: m.Body, Now: now}
	if m.Method == http.MethodGet {
		req.RawQuery, req.Body = string(m.Body), nil
	}
	return p.VerifyNotify(req)
}

// Run checks every property on the named provider.
func Run(t *testing.T, name string) {
	f := NewFixture(t, name)
	t.Run("genuine notification verifies", func(t *testing.T) { genuine(t, f) })
	t.Run("every tamper refused", func(t *testing.T) { tampers(t, f) })
	t.Run("a stranger's keys refused", func(t *testing.T) { stranger(t, f) })
	t.Run("acknowledgements", func(t *testing.T) { acknowledgements(t, f) })
	t.Run("mutations never panic", func(t *testing.T) { mutations(t, f) })
	if f.Built.Querier != nil {
		t.Run("query", func(t *testing.T) { query(t, f) })
	}
	oq, ok := f.Built.Querier.(provider.OrderQuerier)
	if ok != f.Spec.Recoverable {
		t.Errorf("Spec.Recoverable is %v, but the sandbox-configured querier implements OrderQuerier: %v", f.Spec.Recoverable, ok)
	}
	if ok {
		t.Run("query by order number", func(t *testing.T) { queryByOrderNo(t, f, oq) })
		t.Run("merchant option", func(t *testing.T) { merchantOption(t, f) })
	}
}

// merchantOption: a recoverable provider's notification names the
// merchant its Spec.MerchantOption configures, so the order namespace a
// route computes from its options is the one its notifications use.
func merchantOption(t *testing.T, f *Fixture) {
	want := ""
	for _, st := range f.Sandbox.Settings(f.HTTP.URL) {
		if st.Name == f.Spec.MerchantOption && !st.Query && len(st.Args) == 1 {
			want = st.Args[0]
		}
	}
	if f.Spec.MerchantOption != "" && want == "" {
		t.Fatalf("MerchantOption %q is not among the sandbox's settings", f.Spec.MerchantOption)
	}
	v, err := Verify(f.Built.Provider, f.Notify(t, f.Order(t), ""), f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if v.Notification.Merchant != want {
		t.Fatalf("the notification names merchant %q, the option %q configures %q", v.Notification.Merchant, f.Spec.MerchantOption, want)
	}
}

// queryByOrderNo is the second form of the query (DESIGN.md section 11),
// the one lost-callback recovery asks: it finds an order the sandbox holds
// by its number alone, with the hints a watch registration carries (a
// UnionPay order's txn_time), and an order the provider never saw is
// query_mismatch.
func queryByOrderNo(t *testing.T, f *Fixture, oq provider.OrderQuerier) {
	o := f.Order(t, func(o *sandbox.Order) { o.Amount = 4321 })
	// txn_time is the order time in Beijing time (UnionPay's txnTime), the
	// time the sandbox prepared the order.
	hints := map[string]string{"txn_time": f.Now.In(time.FixedZone("CST", 8*3600)).Format("20060102150405")}
	ctx, cancel := context.WithTimeout(provider.WithOrderHints(context.Background(), hints), 10*time.Second)
	defer cancel()
	r, err := oq.QueryByOrderNo(ctx, o.OutTradeNo)
	if err != nil {
		t.Fatalf("the sandbox's own order %s: %v", o.OutTradeNo, err)
	}
	if r.Status != notification.StatusPaid || r.Amount != 4321 || r.Currency != o.Currency ||
		(r.OutTradeNo != "" && r.OutTradeNo != o.OutTradeNo) || r.TransactionID == "" {
		t.Fatalf("query by number says %+v for %+v", r, o)
	}
	_, err = oq.QueryByOrderNo(ctx, "NEVERSEEN"+sandbox.RandDigits(8))
	if got := reason.CodeOf(err, ""); got != reason.QueryMismatch {
		t.Fatalf("an unknown order: %v (reason %q), want query_mismatch", err, got)
	}
}

func genuine(t *testing.T, f *Fixture) {
	o := f.Order(t)
	v, err := Verify(f.Built.Provider, f.Notify(t, o, ""), f.Now)
	if err != nil {
		t.Fatalf("the sandbox's genuine notification is refused: %v", err)
	}
	n := v.Notification
	if n.EventID == "" || n.OutTradeNo != o.OutTradeNo || n.Amount != o.Amount || n.Currency != o.Currency || n.Status != notification.StatusPaid {
		t.Fatalf("normalized %+v from order %+v", n, o)
	}
	if !v.Timestamp.IsZero() && (f.Now.Sub(v.Timestamp) > time.Minute || v.Timestamp.Sub(f.Now) > time.Minute) {
		t.Errorf("signed timestamp %v is not the signing time %v", v.Timestamp, f.Now)
	}
	if f.Built.Provider.Traits().Passthrough {
		t.Error("a notify route must not be passthrough")
	}
}

func tampers(t *testing.T, f *Fixture) {
	if len(f.Sandbox.Tamperable()) == 0 {
		t.Fatal("the sandbox lists no tamper fields")
	}
	for _, field := range f.Sandbox.Tamperable() {
		t.Run(field, func(t *testing.T) {
			o := f.Order(t)
			v, err := Verify(f.Built.Provider, f.Notify(t, o, field), f.Now)
			if err == nil {
				t.Fatalf("tampered %s verified: %+v", field, v.Notification)
			}
			wantReasonError(t, err)
		})
	}
}

func stranger(t *testing.T, f *Fixture) {
	other := loadSandbox(t, f.Spec)
	o := f.Order(t)
	m, err := other.BuildNotify(&o, "", f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(f.Built.Provider, m, f.Now); err == nil {
		t.Fatal("a notification signed with another sandbox's keys verified")
	} else {
		wantReasonError(t, err)
	}
}

func wantReasonError(t *testing.T, err error) {
	t.Helper()
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a *reason.Error", err)
	}
	if re.Code == reason.Forwarded || re.Code == reason.Duplicate {
		t.Fatalf("refusal with reason %s", re.Code)
	}
}

// mutations: every truncation and a byte flip at spread positions, and
// every header removed, never panic and give *reason.Error on refusal.
func mutations(t *testing.T, f *Fixture) {
	o := f.Order(t)
	m := f.Notify(t, o, "")
	p := f.Built.Provider
	check := func(what string, mm *sandbox.Message) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s: VerifyNotify panicked: %v", what, r)
			}
		}()
		if _, err := Verify(p, mm, f.Now); err != nil {
			var re *reason.Error
			if !errors.As(err, &re) {
				t.Fatalf("%s: error %v is not a *reason.Error", what, err)
			}
		}
	}
	step := max(1, len(m.Body)/64)
	for i := 0; i <= len(m.Body); i += step {
		cut := *m
		cut.Body = m.Body[:i]
		check(fmt.Sprintf("body cut at %d", i), &cut)
		if i < len(m.Body) {
			flip := *m
			flip.Body = append([]byte(nil), m.Body...)
			flip.Body[i] ^= 0x20
			check(fmt.Sprintf("byte %d flipped", i), &flip)
		}
	}
	for k := range m.Header {
		less := *m
		less.Header = m.Header.Clone()
		less.Header.Del(k)
		check("without "+k, &less)
		odd := *m
		odd.Header = m.Header.Clone()
		odd.Header.Set(k, "\x00"+strings.Repeat("=", 300))
		check("odd "+k, &odd)
	}
}

// acks is DESIGN.md section 5: what each provider's acknowledgement looks
// like; the default row is "200, non-2xx".
type ackRow struct {
	okStatus      int
	okBody        string // "" none
	failSubstring string // in the failure body
}

var acks = map[string]ackRow{
	"alipay":       {200, "success", "fail"},
	"wechatpay_v3": {204, "", `"code":"FAIL"`},
	"wechatpay_v2": {200, "<return_code><![CDATA[SUCCESS]]></return_code>", "<return_code><![CDATA[FAIL]]></return_code>"},
}

func acknowledgements(t *testing.T, f *Fixture) {
	p := f.Built.Provider
	row, special := acks[f.Spec.Name]
	if !special {
		row = ackRow{okStatus: 200}
	}
	for _, code := range []reason.Code{reason.Forwarded, reason.Duplicate} {
		a := p.Acknowledge(true, code, reason.HTTPStatus(code))
		if a.Status != row.okStatus || (row.okBody != "" && !strings.Contains(string(a.Body), row.okBody)) {
			t.Errorf("%s acknowledged %d %q, want %d %q", code, a.Status, a.Body, row.okStatus, row.okBody)
		}
		if row.okStatus == http.StatusNoContent && len(a.Body) > 0 {
			t.Errorf("a 204 acknowledgement with a body")
		}
	}
	for _, code := range reason.All {
		if code == reason.Forwarded || code == reason.Duplicate || code == reason.Watching {
			continue
		}
		want := reason.HTTPStatus(code)
		if f.Spec.Name == "appstore" && code == reason.InFlight {
			want = http.StatusServiceUnavailable // Apple retries after 5xx only
		}
		a := p.Acknowledge(false, code, reason.HTTPStatus(code))
		if a.Status != want {
			t.Errorf("%s answered %d, want %d", code, a.Status, want)
		}
		if row.failSubstring != "" && !strings.Contains(string(a.Body), row.failSubstring) {
			t.Errorf("%s body %q lacks %q", code, a.Body, row.failSubstring)
		}
	}
}

func query(t *testing.T, f *Fixture) {
	q := f.Built.Querier
	ctx := context.Background()
	verified := func(t *testing.T, o sandbox.Order) *notification.Notification {
		v, err := Verify(f.Built.Provider, f.Notify(t, o, ""), f.Now)
		if err != nil {
			t.Fatal(err)
		}
		return &v.Notification
	}
	t.Run("confirms", func(t *testing.T) {
		o := f.Order(t)
		n := verified(t, o)
		r, err := q.QueryOrder(ctx, n)
		if err != nil {
			t.Fatalf("the sandbox's own order: %v", err)
		}
		if r.Amount != n.Amount || r.Currency != n.Currency || r.Status != notification.StatusPaid {
			t.Fatalf("query says %+v for %+v", r, n)
		}
	})
	t.Run("detects a mismatch", func(t *testing.T) {
		o := f.Order(t, func(o *sandbox.Order) { o.QueryAmount = 1 })
		n := verified(t, o)
		r, err := q.QueryOrder(ctx, n)
		if err == nil && r.Amount == n.Amount {
			t.Fatalf("the query confirmed %d while the provider says 1", n.Amount)
		}
	})
	t.Run("outage", func(t *testing.T) {
		n := verified(t, f.Order(t))
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		wantCode(t, f.BuildAt(t, dead.URL).Querier, n, reason.QueryUnavailable)
	})
	t.Run("a redirect is never followed", func(t *testing.T) {
		n := verified(t, f.Order(t))
		var reached atomic.Int32
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			f.Server.ServeHTTP(w, r)
		}))
		defer target.Close()
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _ := url.Parse(target.URL)
			r.URL.Scheme, r.URL.Host = u.Scheme, u.Host
			http.Redirect(w, r, r.URL.String(), http.StatusTemporaryRedirect)
		}))
		defer redirect.Close()
		wantCode(t, f.BuildAt(t, redirect.URL).Querier, n, reason.QueryUnavailable)
		if reached.Load() != 0 {
			t.Fatal("the signed query was re-sent to the redirect's target")
		}
	})
}

func wantCode(t *testing.T, q provider.Querier, n *notification.Notification, want reason.Code) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := q.QueryOrder(ctx, n)
	if got := reason.CodeOf(err, ""); got != want {
		t.Fatalf("query error %v (reason %q), want %s", err, got, want)
	}
}
