package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/store/redistest"
)

// The race of issue 17: the provider's own paid notification and the
// recovery worker's delivery of the same payment, each at the shop while
// the other arrives. The transaction's delivery record lets exactly one
// through. Synchronised on the shop's handlers, no sleeps.

// plainProvider is a test stand-in that takes a JSON body as verified.
type plainProvider struct{}

type plainMsg struct {
	ID, Order, Txn string
	Amount         int64
}

func (plainProvider) Name() string            { return "alipay" }
func (plainProvider) Traits() provider.Traits { return provider.Traits{} }
func (plainProvider) VerifyNotify(r *provider.Request) (*provider.Verified, error) {
	var m plainMsg
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "")
	}
	return &provider.Verified{Notification: notification.Notification{
		EventID: m.ID, OutTradeNo: m.Order, TransactionID: m.Txn, Amount: m.Amount, Currency: "CNY",
		Status: notification.StatusPaid, Merchant: "m1", Raw: map[string]any{},
	}}, nil
}
func (plainProvider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: http.StatusOK, Body: []byte("success")}
	}
	return provider.Ack{Status: status, Body: []byte("fail")}
}

// gate holds a request at the shop until released.
type gate struct {
	arrived chan struct{}
	release chan struct{}
	n       atomic.Int32
}

func newGate() *gate { return &gate{arrived: make(chan struct{}, 8), release: make(chan struct{})} }

func (g *gate) pass() {
	g.n.Add(1)
	g.arrived <- struct{}{}
	<-g.release
}

type raceWorld struct {
	p         *pipeline.Pipeline
	w         *Worker
	st        store.Store
	ns        string
	now       time.Time
	shop      *gate // the notify route's upstream
	recovered *gate // deliver_to
	q         *fakeQuerier
}

func newRaceWorld(t *testing.T, st store.Store) *raceWorld {
	t.Helper()
	rw := &raceWorld{st: st, ns: pipeline.Namespace("", "alipay", "m1"), now: t0, shop: newGate(), recovered: newGate(),
		q: &fakeQuerier{answers: []answer{paid(1234)}}}
	sched := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}
	routes := &Routes{}
	routes.Add(rw.ns, "alipay", sched)
	var err error
	rw.p, err = pipeline.New(pipeline.Config{Provider: plainProvider{}, Store: st,
		Hook: NewGuard(GuardConfig{Provider: "alipay", Store: st, Routes: routes, Lease: time.Minute})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rw.recovered.pass() }))
	t.Cleanup(srv.Close)
	rw.w, err = New(Config{Provider: "alipay", Namespace: rw.ns, Store: st, Querier: rw.q, Schedule: sched,
		DeliverTo: srv.URL, Now: func() time.Time { return rw.now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.WatchOrder(context.Background(), rw.ns, store.Watch{Provider: "alipay", OutTradeNo: "O1", Since: t0}, time.Hour); err != nil {
		t.Fatal(err)
	}
	return rw
}

func (rw *raceWorld) notify() *pipeline.Result {
	body, _ := json.Marshal(plainMsg{ID: "n-1", Order: "O1", Txn: "T1", Amount: 1234})
	in := &pipeline.Incoming{Method: http.MethodPost, Path: "/notify", Header: http.Header{}, Body: bytes.NewReader(body), ContentLength: -1}
	return rw.p.Handle(context.Background(), in, func(ctx context.Context, out *pipeline.Outgoing) (pipeline.Answer, error) {
		rw.shop.pass()
		return pipeline.Answer{Status: http.StatusOK, Body: []byte("success")}, nil
	})
}

func eachRaceStore(t *testing.T, f func(t *testing.T, st store.Store)) {
	t.Run("memory", func(t *testing.T) {
		st := store.NewMemory("payguard:")
		t.Cleanup(func() { _ = st.Close() })
		f(t, st)
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		st, err := store.OpenRedis(srv.URL(), nil, "", "race:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		f(t, st)
	})
}

// The notification is at the shop when the worker finds the order paid:
// the worker does not deliver, and once the shop accepted the
// notification the watch is over.
func TestRaceNotificationAtShop(t *testing.T) {
	eachRaceStore(t, func(t *testing.T, st store.Store) {
		rw := newRaceWorld(t, st)
		done := make(chan *pipeline.Result)
		go func() { done <- rw.notify() }()
		<-rw.shop.arrived
		rw.now = t0.Add(time.Minute)
		if n := rw.w.Tick(context.Background()); n != 1 || rw.q.n() != 1 {
			t.Fatalf("the worker took %d watches, made %d queries; want 1 and 1", n, rw.q.n())
		}
		close(rw.shop.release)
		if res := <-done; res.Code != reason.Forwarded {
			t.Fatalf("the notification: %s (%v)", res.Code, res.Err)
		}
		rw.now = t0.Add(time.Hour)
		if n := rw.w.Tick(context.Background()); n != 0 {
			t.Fatalf("the worker took %d watches after the notification was delivered", n)
		}
		if got := rw.recovered.n.Load(); got != 0 {
			t.Fatalf("%d recovered deliveries beside the notification", got)
		}
		if src, _ := st.Delivered(context.Background(), rw.ns, "T1"); src != store.SourceNotify {
			t.Fatalf("transaction recorded as %q, want notify", src)
		}
	})
}

// The recovered delivery is at the shop when the provider's notification
// arrives: the notification is refused in_flight (the provider retries),
// and its retry after the delivery is a duplicate; the shop's notify
// route never sees it.
func TestRaceRecoveredAtShop(t *testing.T) {
	eachRaceStore(t, func(t *testing.T, st store.Store) {
		rw := newRaceWorld(t, st)
		rw.now = t0.Add(time.Minute)
		ticked := make(chan int)
		go func() { ticked <- rw.w.Tick(context.Background()) }()
		<-rw.recovered.arrived
		if res := rw.notify(); res.Code != reason.InFlight || res.Outcome != pipeline.OutcomeFailed {
			t.Fatalf("the notification during the recovered delivery: %s %s, want in_flight", res.Code, res.Outcome)
		}
		close(rw.recovered.release)
		<-ticked
		res := rw.notify()
		if res.Code != reason.Duplicate || res.Response.Status != http.StatusOK || string(res.Response.Body) != "success" {
			t.Fatalf("the retry after the recovered delivery: %s %d %q, want duplicate success", res.Code, res.Response.Status, res.Response.Body)
		}
		if n := rw.shop.n.Load(); n != 0 {
			t.Fatalf("the notify route forwarded %d copies of a recovered payment", n)
		}
		if n := rw.recovered.n.Load(); n != 1 {
			t.Fatalf("%d recovered deliveries, want 1", n)
		}
		// Its event is done now: the next retry stops at the claim.
		if res := rw.notify(); res.Code != reason.Duplicate {
			t.Fatalf("a later retry: %s", res.Code)
		}
	})
}
