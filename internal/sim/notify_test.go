package sim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// fakeSidecar stands in for payguard: it verifies with the real provider,
// asks the sandbox through the real query client, remembers delivered
// event ids, and answers like payguard (Payguard-Reason, Alipay's ack). It
// records every body it receives.
type fakeSidecar struct {
	mu     sync.Mutex
	bodies []string
	done   map[string]bool
}

func newFakeSidecar(t *testing.T, p provider.Provider, q provider.Querier) (*fakeSidecar, string) {
	f := &fakeSidecar{done: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(body))
		f.mu.Unlock()
		answer := func(code reason.Code) {
			ok := code == reason.Forwarded || code == reason.Duplicate
			ack := p.Acknowledge(ok, code, reason.HTTPStatus(code))
			w.Header().Set("Payguard-Reason", string(code))
			w.WriteHeader(ack.Status)
			_, _ = w.Write(ack.Body)
		}
		v, err := p.VerifyNotify(&provider.Request{Method: r.Method, Header: r.Header, Body: body, Now: time.Now()})
		if err != nil {
			answer(reason.CodeOf(err, reason.Malformed))
			return
		}
		f.mu.Lock()
		dup := f.done[v.Notification.EventID]
		f.mu.Unlock()
		if dup {
			answer(reason.Duplicate)
			return
		}
		qr, err := q.QueryOrder(r.Context(), &v.Notification)
		if err != nil {
			answer(reason.CodeOf(err, reason.QueryUnavailable))
			return
		}
		if qr.Amount != v.Notification.Amount || qr.Status != v.Notification.Status {
			answer(reason.QueryMismatch)
			return
		}
		f.mu.Lock()
		f.done[v.Notification.EventID] = true
		f.mu.Unlock()
		answer(reason.Forwarded)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// verifier is the real provider configured for the sandbox's keys and
// query API.
func verifier(t *testing.T, p *Provider, base string) provider.Built {
	t.Helper()
	spec, _ := provider.Lookup(p.Name())
	b, err := spec.BuildFromSettings(p.Settings(base), provider.Settings{Tolerance: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNotifyEndToEnd(t *testing.T) {
	sb := newSandbox(t, nil)
	ali := sb.provider(t, "alipay")
	b := verifier(t, ali, sb.http.URL)
	side, to := newFakeSidecar(t, b.Provider, b.Querier)
	ctx := context.Background()

	res, err := Notify(ctx, ali, NotifyOptions{To: to, Sandbox: sb.http.URL, Order: Order{Amount: 1234}, Replay: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Registered || res.SandboxErr != nil {
		t.Fatalf("not registered: %v", res.SandboxErr)
	}
	if got, ok := sb.srv.Book().Get("alipay", res.Order.OutTradeNo); !ok || got != res.Order {
		t.Fatalf("sandbox holds %+v, notified %+v", got, res.Order)
	}
	want := []string{"200 forwarded success", "200 duplicate success", "200 duplicate success"}
	for i, d := range res.Deliveries {
		if got := strings.Join([]string{strconv.Itoa(d.Status), d.Reason, string(d.Body)}, " "); got != want[i] || d.Err != nil {
			t.Errorf("delivery %d: %s (%v), want %s", i+1, got, d.Err, want[i])
		}
	}
	// A replay is the identical bytes.
	if len(side.bodies) != 3 || side.bodies[0] != side.bodies[1] || side.bodies[1] != side.bodies[2] || side.bodies[0] != string(res.Message.Body) {
		t.Fatalf("replays differ: %d bodies", len(side.bodies))
	}

	// The sandbox disagrees: query_mismatch.
	res, err = Notify(ctx, ali, NotifyOptions{To: to, Sandbox: sb.http.URL, Order: Order{Amount: 1234, QueryAmount: 1}})
	if err != nil || res.Deliveries[0].Reason != "query_mismatch" || res.Deliveries[0].Status != 403 || string(res.Deliveries[0].Body) != "fail" {
		t.Fatalf("disagreeing sandbox: %+v %v", res.Deliveries, err)
	}
	// A tampered notification never reaches the query.
	res, err = Notify(ctx, ali, NotifyOptions{To: to, Sandbox: sb.http.URL, Order: Order{Amount: 1234}, Tamper: "total_amount"})
	if err != nil || res.Deliveries[0].Reason != "bad_signature" || res.Deliveries[0].Status != 401 {
		t.Fatalf("tampered: %+v %v", res.Deliveries, err)
	}
	// Without the sandbox, the order is unknown to the query API.
	res, err = Notify(ctx, ali, NotifyOptions{To: to, Order: Order{Amount: 100}})
	if err != nil || res.Registered || res.Deliveries[0].Reason != "query_mismatch" {
		t.Fatalf("unregistered: %+v %v", res, err)
	}
}

func TestNotifyWeChatEndToEnd(t *testing.T) {
	sb := newSandbox(t, nil)
	v3p, v2p := sb.provider(t, "wechatpay_v3"), sb.provider(t, "wechatpay_v2")
	v3 := verifier(t, v3p, sb.http.URL)
	_, to := newFakeSidecar(t, v3.Provider, v3.Querier)
	res, err := Notify(context.Background(), v3p, NotifyOptions{To: to, Sandbox: sb.http.URL, Order: Order{Amount: 500}, Replay: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Deliveries; len(d) != 2 || d[0].Status != 204 || d[0].Reason != "forwarded" || d[1].Reason != "duplicate" {
		t.Fatalf("v3 deliveries %+v", d)
	}
	v2 := verifier(t, v2p, sb.http.URL)
	_, to = newFakeSidecar(t, v2.Provider, v2.Querier)
	res, err = Notify(context.Background(), v2p, NotifyOptions{To: to, Sandbox: sb.http.URL, Order: Order{Amount: 500}})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Deliveries[0]; d.Status != 200 || d.Reason != "forwarded" || !strings.Contains(string(d.Body), "SUCCESS") {
		t.Fatalf("v2 delivery %+v %s", d, d.Body)
	}
}

func TestNotifySandboxUnreachableOrRefusing(t *testing.T) {
	sb := newSandbox(t, nil)
	ali := sb.provider(t, "alipay")
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer shop.Close()
	// Unreachable: a closed port. The notification is still sent.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	res, err := Notify(context.Background(), ali, NotifyOptions{To: shop.URL, Sandbox: closedURL, Order: Order{Amount: 100}})
	if err != nil || res.Registered || res.SandboxErr == nil || len(res.Deliveries) != 1 || res.Deliveries[0].Status != 200 {
		t.Fatalf("unreachable sandbox: %+v %v", res, err)
	}
	// Reachable but not a sandbox (404), or a sandbox refusing the order
	// (one without WeChat keys, asked about a v3 order): an error, and
	// nothing is sent.
	alipayOnly, err := NewServer(ServerConfig{Providers: []*Provider{sb.provider(t, "alipay")}})
	if err != nil {
		t.Fatal(err)
	}
	only := httptest.NewServer(alipayOnly)
	defer only.Close()
	for _, sandbox := range []string{shop.URL + "/nothing-here", only.URL} {
		_, err := Notify(context.Background(), sb.provider(t, "wechatpay_v3"), NotifyOptions{To: shop.URL, Sandbox: sandbox, Order: Order{Amount: 100}})
		if err == nil || !strings.Contains(err.Error(), "sandbox refused") {
			t.Errorf("%s: %v", sandbox, err)
		}
	}
}

func TestNotifyOptionErrors(t *testing.T) {
	sb := newSandbox(t, nil)
	ali := sb.provider(t, "alipay")
	for _, o := range []NotifyOptions{
		{To: "", Order: Order{Amount: 100}},
		{To: "ftp://x", Order: Order{Amount: 100}},
		{To: "http://127.0.0.1:1", Sandbox: "not a url", Order: Order{Amount: 100}},
		{To: "http://127.0.0.1:1", Replay: -1, Order: Order{Amount: 100}},
		{To: "http://127.0.0.1:1", Replay: MaxReplay + 1, Order: Order{Amount: 100}},
		{To: "http://127.0.0.1:1", Tamper: "nope", Order: Order{Amount: 100}},
		{To: "http://127.0.0.1:1", Order: Order{Amount: -1}},
		{To: "http://127.0.0.1:1", Order: Order{Amount: 100, Currency: "yen"}},
	} {
		if _, err := Notify(context.Background(), ali, o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
	if _, err := Notify(context.Background(), nil, NotifyOptions{}); err == nil {
		t.Error("nil provider accepted")
	}
	// A transport error on delivery is reported per delivery, not fatal.
	res, err := Notify(context.Background(), ali, NotifyOptions{To: "http://127.0.0.1:1/notify", Order: Order{Amount: 100}, Replay: 1})
	if err != nil || len(res.Deliveries) != 2 || res.Deliveries[0].Err == nil {
		t.Fatalf("unreachable sidecar: %+v %v", res, err)
	}
}

// --no-notify: the order is paid in the sandbox's query API and nothing
// is sent, the lost notification lost-callback recovery must find.
func TestNotifyNoNotify(t *testing.T) {
	sb := newSandbox(t, nil)
	ali := sb.provider(t, "alipay")
	b := verifier(t, ali, sb.http.URL)
	side, to := newFakeSidecar(t, b.Provider, b.Querier)
	res, err := Notify(context.Background(), ali, NotifyOptions{To: to, Sandbox: sb.http.URL, Order: Order{Amount: 1234}, NoNotify: true})
	if err != nil || !res.Registered || len(res.Deliveries) != 0 {
		t.Fatalf("no-notify: %+v %v", res, err)
	}
	if len(side.bodies) != 0 {
		t.Fatalf("%d notifications sent", len(side.bodies))
	}
	oq := b.Querier.(provider.OrderQuerier)
	q, err := oq.QueryByOrderNo(context.Background(), res.Order.OutTradeNo)
	if err != nil || q.Status != "paid" || q.Amount != 1234 || q.TransactionID != res.Order.TransactionID {
		t.Fatalf("the sandbox's query answers %+v, %v; want the paid order", q, err)
	}
	// No --to needed; but an order the sandbox does not hold is nothing.
	if _, err := Notify(context.Background(), ali, NotifyOptions{Sandbox: sb.http.URL, Order: Order{Amount: 1}, NoNotify: true}); err != nil {
		t.Fatalf("no-notify without --to: %v", err)
	}
	if _, err := Notify(context.Background(), ali, NotifyOptions{To: to, Order: Order{Amount: 1}, NoNotify: true}); err == nil {
		t.Fatal("no-notify without a sandbox accepted")
	}
	if _, err := Notify(context.Background(), ali, NotifyOptions{Sandbox: "http://127.0.0.1:1", Order: Order{Amount: 1}, NoNotify: true}); err == nil {
		t.Fatal("no-notify with an unreachable sandbox reported success")
	}
}
