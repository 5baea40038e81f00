package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/stdwebhook"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/store/redistest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeQuerier answers from a list of results, one per query, the last
// repeated.
type fakeQuerier struct {
	mu      sync.Mutex
	answers []answer
	calls   int
	hints   []string
}

type answer struct {
	res *provider.QueryResult
	err error
}

func (q *fakeQuerier) QueryByOrderNo(ctx context.Context, no string) (*provider.QueryResult, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.hints = append(q.hints, provider.OrderHint(ctx, "txn_time"))
	a := q.answers[min(q.calls, len(q.answers)-1)]
	q.calls++
	return a.res, a.err
}

func (q *fakeQuerier) n() int { q.mu.Lock(); defer q.mu.Unlock(); return q.calls }

func paid(amount int64) answer {
	return answer{res: &provider.QueryResult{Status: notification.StatusPaid, Amount: amount, Currency: "CNY",
		OutTradeNo: "O1", TransactionID: "T1", Raw: map[string]any{"trade_no": "T1"}}}
}

func status(s notification.Status) answer {
	return answer{res: &provider.QueryResult{Status: s, Amount: 1234, Currency: "CNY", OutTradeNo: "O1"}}
}

// shop records deliveries; status says what it answers to each.
type shop struct {
	mu       sync.Mutex
	got      []*http.Request
	bodies   [][]byte
	statuses []int
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	s.got, s.bodies = append(s.got, r), append(s.bodies, b)
	code := http.StatusOK
	if len(s.statuses) > 0 {
		code, s.statuses = s.statuses[0], s.statuses[1:]
	}
	w.WriteHeader(code)
}

func (s *shop) n() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

type world struct {
	w       *Worker
	st      *store.Memory
	q       *fakeQuerier
	shop    *shop
	now     time.Time
	records []*audit.Record
	counts  map[string]int
	secret  []byte
}

func newWorld(t *testing.T, deliver bool, answers ...answer) *world {
	t.Helper()
	wd := &world{st: store.NewMemory("payguard:"), q: &fakeQuerier{answers: answers}, shop: &shop{}, now: t0,
		counts: map[string]int{}, secret: []byte("0123456789abcdef0123456789abcdef")}
	t.Cleanup(func() { _ = wd.st.Close() })
	cfg := Config{
		Provider: "alipay", Namespace: "alipay", Store: wd.st, Querier: wd.q,
		Schedule:        []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute},
		UpstreamSecrets: [][]byte{wd.secret},
		Now:             func() time.Time { return wd.now },
		Audit:           func(_ context.Context, r *audit.Record) { wd.records = append(wd.records, r) },
		Count:           func(r string) { wd.counts[r]++ },
	}
	if deliver {
		srv := httptest.NewServer(wd.shop)
		t.Cleanup(srv.Close)
		cfg.DeliverTo = srv.URL + "/recovered"
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wd.w = w
	return wd
}

func (wd *world) watch(t *testing.T, w store.Watch) {
	t.Helper()
	if w.Provider == "" {
		w.Provider = "alipay"
	}
	if w.OutTradeNo == "" {
		w.OutTradeNo = "O1"
	}
	w.Since = t0
	if _, err := wd.st.WatchOrder(context.Background(), "alipay", w, time.Hour); err != nil {
		t.Fatal(err)
	}
}

// at moves the clock to t0+d and runs one tick.
func (wd *world) at(d time.Duration) { wd.now = t0.Add(d); wd.w.Tick(context.Background()) }

func TestPaidAtFirstOffsetDeliveredOnce(t *testing.T) {
	wd := newWorld(t, true, paid(1234))
	wd.watch(t, store.Watch{Hints: map[string]string{"txn_time": "20260102110405"}})
	wd.at(0)
	wd.at(59 * time.Second)
	if wd.q.n() != 0 {
		t.Fatalf("%d queries before the first offset", wd.q.n())
	}
	wd.at(time.Minute)
	wd.at(5 * time.Minute)
	wd.at(time.Hour)
	if wd.q.n() != 1 || wd.shop.n() != 1 {
		t.Fatalf("%d queries, %d deliveries; want 1 and 1", wd.q.n(), wd.shop.n())
	}
	if wd.q.hints[0] != "20260102110405" {
		t.Errorf("the query got hint %q, want the registered txn_time", wd.q.hints[0])
	}
	r := wd.shop.got[0]
	for k, v := range map[string]string{
		"Payguard-Provider": "alipay", "Payguard-Event-Id": "recovered:T1", "Payguard-Out-Trade-No": "O1",
		"Payguard-Transaction-Id": "T1", "Payguard-Amount": "1234", "Payguard-Currency": "CNY",
		"Payguard-Status": "paid", "Payguard-Query": "confirmed", "Payguard-Source": "recovered",
		"Content-Type": "application/json",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(wd.shop.bodies[0], &body); err != nil {
		t.Fatal(err)
	}
	if body["id"] != "recovered:T1" || body["type"] != "payment.succeeded" || body["amount"] != 1234.0 || body["status"] != "paid" {
		t.Errorf("body %v", body)
	}
	m, err := stdwebhook.ParseHeaders(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	if err := (stdwebhook.Keys{Secrets: [][]byte{wd.secret}}).Verify(m, wd.shop.bodies[0]); err != nil {
		t.Errorf("the delivery's Standard Webhooks signature: %v", err)
	}
	if len(wd.records) != 1 || wd.records[0].Outcome != audit.Recovered || wd.records[0].Delivered == nil || !*wd.records[0].Delivered ||
		wd.records[0].EventID != "recovered:T1" {
		t.Fatalf("records %+v", wd.records)
	}
	if src, _ := wd.st.Delivered(context.Background(), "alipay", "T1"); src != store.SourceRecovered {
		t.Errorf("the transaction is recorded as %q, want recovered", src)
	}
	if wd.counts[Delivered] != 1 || len(wd.counts) != 1 {
		t.Errorf("counts %v", wd.counts)
	}
}

func TestUnpaidThenPaidDeliveredAfterSecondOffset(t *testing.T) {
	wd := newWorld(t, true, status(notification.StatusPending), paid(1234))
	wd.watch(t, store.Watch{})
	wd.at(time.Minute)
	if wd.q.n() != 1 || wd.shop.n() != 0 {
		t.Fatalf("after the first offset: %d queries, %d deliveries", wd.q.n(), wd.shop.n())
	}
	wd.at(4 * time.Minute)
	if wd.q.n() != 1 {
		t.Fatal("queried between offsets")
	}
	wd.at(5 * time.Minute)
	wd.at(20 * time.Minute)
	if wd.q.n() != 2 || wd.shop.n() != 1 {
		t.Fatalf("%d queries, %d deliveries; want 2 and 1", wd.q.n(), wd.shop.n())
	}
}

func TestUnknownOrderIsNotPaidYet(t *testing.T) {
	wd := newWorld(t, true, answer{err: reason.New(reason.QueryMismatch, "order unknown")}, paid(1234))
	wd.watch(t, store.Watch{})
	wd.at(time.Minute)
	wd.at(5 * time.Minute)
	if wd.shop.n() != 1 || wd.counts[Failed] != 0 {
		t.Fatalf("%d deliveries, counts %v", wd.shop.n(), wd.counts)
	}
}

func TestRegisteredAmountMismatch(t *testing.T) {
	wd := newWorld(t, true, paid(1234))
	wd.watch(t, store.Watch{HasAmount: true, Amount: 999, Currency: "CNY"})
	wd.at(time.Minute)
	wd.at(time.Hour)
	if wd.shop.n() != 0 || wd.q.n() != 1 {
		t.Fatalf("%d deliveries, %d queries; want none and 1", wd.shop.n(), wd.q.n())
	}
	if len(wd.records) != 1 || wd.records[0].Outcome != audit.Unconfirmed || wd.records[0].Reason != reason.QueryMismatch ||
		wd.records[0].Amount != 999 {
		t.Fatalf("records %+v", wd.records)
	}
	if wd.counts[Unconfirmed] != 1 {
		t.Errorf("counts %v", wd.counts)
	}
}

func TestDeliveryFailsThenRetriedOnce(t *testing.T) {
	wd := newWorld(t, true, paid(1234))
	wd.shop.statuses = []int{http.StatusInternalServerError}
	wd.watch(t, store.Watch{})
	wd.at(time.Minute)
	if wd.shop.n() != 1 || wd.counts[Failed] != 1 {
		t.Fatalf("%d deliveries, counts %v", wd.shop.n(), wd.counts)
	}
	wd.at(5 * time.Minute)
	wd.at(15 * time.Minute)
	if wd.shop.n() != 2 || wd.counts[Delivered] != 1 {
		t.Fatalf("%d deliveries, counts %v; want the retry delivered once", wd.shop.n(), wd.counts)
	}
}

func TestReportOnly(t *testing.T) {
	wd := newWorld(t, false, paid(1234))
	wd.watch(t, store.Watch{})
	wd.at(time.Minute)
	wd.at(5 * time.Minute)
	if len(wd.records) != 1 || wd.records[0].Outcome != audit.Recovered || wd.records[0].Delivered == nil || *wd.records[0].Delivered {
		t.Fatalf("records %+v", wd.records)
	}
	b, _ := json.Marshal(wd.records[0])
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["delivered"] != false || m["outcome"] != "recovered" {
		t.Errorf("record JSON %s", b)
	}
	if wd.counts[Reported] != 1 || wd.q.n() != 1 {
		t.Errorf("counts %v, %d queries", wd.counts, wd.q.n())
	}
	if c, _ := wd.st.ClaimDelivery(context.Background(), "alipay", "T1", store.SourceNotify, "n-1", time.Hour); c.State != store.TxnClaimed {
		t.Errorf("a reported payment stops the real notification (%+v): it would be dropped", c)
	}
}

func TestClosedAndExhaustedEndUnconfirmed(t *testing.T) {
	wd := newWorld(t, true, status(notification.StatusClosed))
	wd.watch(t, store.Watch{})
	wd.at(time.Minute)
	wd.at(time.Hour)
	if wd.q.n() != 1 || len(wd.records) != 1 || wd.records[0].Outcome != audit.Unconfirmed {
		t.Fatalf("closed: %d queries, records %+v", wd.q.n(), wd.records)
	}

	wd = newWorld(t, true, status(notification.StatusPending))
	wd.watch(t, store.Watch{})
	for _, d := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 2 * time.Hour} {
		wd.at(d)
	}
	if wd.q.n() != 3 || len(wd.records) != 1 || wd.records[0].Outcome != audit.Unconfirmed || wd.counts[Unconfirmed] != 1 {
		t.Fatalf("exhausted: %d queries, records %+v", wd.q.n(), wd.records)
	}
}

func TestNotificationFirstEndsWithoutDelivery(t *testing.T) {
	wd := newWorld(t, true, paid(1234))
	wd.watch(t, store.Watch{})
	// The provider's notification was forwarded meanwhile but the watch
	// was not ended (say, another route): the delivered transaction stops it.
	c, err := wd.st.ClaimDelivery(context.Background(), "alipay", "T1", store.SourceNotify, "n-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := wd.st.CompleteDelivery(context.Background(), store.Completion{OrderNS: "alipay", TransactionID: "T1",
		TxnToken: c.Token, Source: store.SourceNotify, EventID: "n-1", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	wd.at(time.Minute)
	wd.at(time.Hour)
	if wd.shop.n() != 0 || wd.q.n() != 1 || len(wd.records) != 0 {
		t.Fatalf("%d deliveries, %d queries, records %+v", wd.shop.n(), wd.q.n(), wd.records)
	}
}

func TestLateInstanceQueriesOnceForMissedOffsets(t *testing.T) {
	wd := newWorld(t, true, status(notification.StatusPending))
	wd.watch(t, store.Watch{})
	wd.at(10 * time.Minute) // the first two offsets passed unattended
	if wd.q.n() != 1 {
		t.Fatalf("%d queries, want one for the missed offsets", wd.q.n())
	}
	wd.at(14 * time.Minute)
	wd.at(15 * time.Minute)
	if wd.q.n() != 2 {
		t.Fatalf("%d queries, want the last offset's", wd.q.n())
	}
}

func TestQueryOutageRetried(t *testing.T) {
	wd := newWorld(t, true, answer{err: reason.New(reason.QueryUnavailable, "down")}, paid(1234))
	wd.watch(t, store.Watch{})
	wd.at(time.Minute)
	wd.at(5 * time.Minute)
	if wd.counts[Failed] != 1 || wd.counts[Delivered] != 1 {
		t.Fatalf("counts %v", wd.counts)
	}
}

func TestConfigChecked(t *testing.T) {
	st := store.NewMemory("p:")
	defer st.Close()
	for _, s := range [][]time.Duration{{time.Minute, time.Minute}, {-time.Second}, {5 * time.Minute, time.Minute}} {
		if _, err := New(Config{Provider: "a", Namespace: "a", Store: st, Querier: &fakeQuerier{}, Schedule: s}); err == nil {
			t.Errorf("schedule %v accepted", s)
		}
	}
	if _, err := New(Config{Provider: "a", Namespace: "a", Store: st}); err == nil {
		t.Error("no querier accepted")
	}
}

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
