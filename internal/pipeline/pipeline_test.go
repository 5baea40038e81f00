package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// fakeProvider accepts JSON notifications whose "sig" is "good"; it stands
// in for a real provider so the stages are tested on their own.
type fakeProvider struct{ traits provider.Traits }

type fakeMsg struct {
	ID     string `json:"id"`
	Order  string `json:"order"`
	Txn    string `json:"txn"`
	Amount int64  `json:"amount"`
	Status string `json:"status"`
	TS     int64  `json:"ts"`
	ET     int64  `json:"et"` // signed event time, unix seconds
	Mch    string `json:"mch"`
	Refund int64  `json:"refund"`
	RefID  string `json:"refund_id"`
	Nonce  string `json:"nonce"`
	Sig    string `json:"sig"`
}

func (f *fakeProvider) Name() string { return "fake" }
func (f *fakeProvider) Traits() provider.Traits {
	if f.traits.Method == "" {
		return provider.Traits{Method: http.MethodPost}
	}
	return f.traits
}
func (f *fakeProvider) VerifyNotify(r *provider.Request) (*provider.Verified, error) {
	var m fakeMsg
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil, reason.New(reason.Malformed, "not json")
	}
	if m.Sig != "good" {
		return nil, reason.New(reason.BadSignature, "sig")
	}
	st := notification.Status(m.Status)
	if st == "" {
		st = notification.StatusPaid
	}
	v := &provider.Verified{Notification: notification.Notification{
		EventID: m.ID, OutTradeNo: m.Order, TransactionID: m.Txn, Amount: m.Amount,
		Currency: "CNY", Status: st, Raw: map[string]any{"order": m.Order},
		Merchant: m.Mch, RefundAmount: m.Refund, RefundID: m.RefID,
	}, Nonce: m.Nonce}
	if m.TS != 0 {
		v.Timestamp = time.Unix(m.TS, 0)
	}
	if m.ET != 0 {
		v.EventTime = time.Unix(m.ET, 0)
	}
	return v, nil
}
func (f *fakeProvider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return provider.Ack{Status: 200, ContentType: "text/plain", Body: []byte("success")}
	}
	return provider.Ack{Status: status, ContentType: "text/plain", Body: []byte("fail")}
}

// shop records what reaches it and answers with status.
type shop struct {
	mu     sync.Mutex
	got    []*Outgoing
	status int
	body   string
	err    error
	delay  time.Duration
}

func (s *shop) forward(ctx context.Context, out *Outgoing) (Answer, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Answer{}, s.err
	}
	s.got = append(s.got, out)
	a := Answer{Status: s.status, Body: []byte(s.body)}
	if a.Status == 0 {
		a.Status = 200
	}
	return a, nil
}

func (s *shop) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func msg(id, order, txn string, amount int64) []byte {
	b, _ := json.Marshal(fakeMsg{ID: id, Order: order, Txn: txn, Amount: amount, Sig: "good"})
	return b
}

func post(body []byte) *Incoming {
	return &Incoming{Method: "POST", Path: "/notify", Header: http.Header{"Content-Type": {"application/json"}},
		Body: bytes.NewReader(body), ContentLength: int64(len(body)), RemoteIP: netip.MustParseAddr("203.0.113.7")}
}

func newPipeline(t *testing.T, mod func(*Config)) (*Pipeline, store.Store) {
	t.Helper()
	st := store.NewMemory("")
	t.Cleanup(func() { st.Close() })
	cfg := Config{Provider: &fakeProvider{}, Store: st}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, cfg.Store
}

func expect(t *testing.T, res *Result, status int, code reason.Code) {
	t.Helper()
	if res.Response.Status != status || res.Code != code {
		t.Fatalf("got %d %s (%v), want %d %s", res.Response.Status, res.Code, res.Err, status, code)
	}
	if got := res.Response.Header.Get(HeaderReason); got != string(code) {
		t.Fatalf("Payguard-Reason = %q, want %q", got, code)
	}
}

func TestForwardOnceWithHeaders(t *testing.T) {
	p, _ := newPipeline(t, nil)
	s := &shop{}
	in := post(msg("evt1", "order-1", "txn-1", 1234))
	in.Header.Set("Payguard-Amount", "1")
	in.Header.Set("payguard-status", "paid")
	res := p.Handle(context.Background(), in, s.forward)
	expect(t, res, 200, reason.Forwarded)
	if string(res.Response.Body) != "success" || res.Outcome != OutcomeForwarded {
		t.Fatalf("ack %q outcome %s", res.Response.Body, res.Outcome)
	}
	if s.count() != 1 {
		t.Fatalf("shop got %d", s.count())
	}
	h := s.got[0].Header
	want := map[string]string{
		HeaderProvider: "fake", HeaderEventID: "evt1", HeaderOutTradeNo: "order-1",
		HeaderTransactionID: "txn-1", HeaderAmount: "1234", HeaderCurrency: "CNY",
		HeaderStatus: "paid", HeaderQuery: "skipped", "Content-Type": "application/json",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if s.got[0].Passthrough {
		t.Error("an acknowledged route's forward marked passthrough")
	}
	if len(h.Values(HeaderAmount)) != 1 || h.Get(HeaderDuplicatePayment) != "" {
		t.Errorf("client-sent Payguard headers survived: %v", h)
	}
	if !bytes.Equal(s.got[0].Body, msg("evt1", "order-1", "txn-1", 1234)) {
		t.Errorf("forward original changed the body: %s", s.got[0].Body)
	}

	// The provider's retry after success: acknowledged, not delivered again.
	res = p.Handle(context.Background(), post(msg("evt1", "order-1", "txn-1", 1234)), s.forward)
	expect(t, res, 200, reason.Duplicate)
	if string(res.Response.Body) != "success" || s.count() != 1 {
		t.Fatalf("duplicate: ack %q, shop got %d", res.Response.Body, s.count())
	}
}

func TestRejections(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) {
		c.AllowIPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		c.MaxBody = 200
	})
	bad, _ := json.Marshal(fakeMsg{ID: "e", Sig: "bad"})
	cases := []struct {
		name   string
		in     func() *Incoming
		status int
		code   reason.Code
	}{
		{"GET", func() *Incoming { in := post(msg("e", "o", "t", 1)); in.Method = "GET"; return in }, 405, reason.MethodNotAllowed},
		{"declared too large", func() *Incoming { in := post(msg("e", "o", "t", 1)); in.ContentLength = 201; return in }, 413, reason.BodyTooLarge},
		{"streamed too large", func() *Incoming {
			in := post(bytes.Repeat([]byte("x"), 500))
			in.ContentLength = -1
			return in
		}, 413, reason.BodyTooLarge},
		{"wrong ip", func() *Incoming {
			in := post(msg("e", "o", "t", 1))
			in.RemoteIP = netip.MustParseAddr("198.51.100.1")
			return in
		}, 403, reason.IPNotAllowed},
		{"no ip", func() *Incoming { in := post(msg("e", "o", "t", 1)); in.RemoteIP = netip.Addr{}; return in }, 403, reason.IPNotAllowed},
		{"bad signature", func() *Incoming { return post(bad) }, 401, reason.BadSignature},
		{"malformed", func() *Incoming { return post([]byte("{")) }, 400, reason.Malformed},
		{"no event id", func() *Incoming { return post(msg("", "o", "t", 1)) }, 400, reason.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &shop{}
			res := p.Handle(context.Background(), c.in(), s.forward)
			expect(t, res, c.status, c.code)
			if string(res.Response.Body) != "fail" || s.count() != 0 {
				t.Fatalf("ack %q, shop got %d", res.Response.Body, s.count())
			}
		})
	}
	// IPv4-mapped IPv6 is the same address.
	in := post(msg("m", "o", "t", 1))
	in.RemoteIP = netip.MustParseAddr("::ffff:203.0.113.9")
	expect(t, p.Handle(context.Background(), in, (&shop{}).forward), 200, reason.Forwarded)
}

func TestUpstreamFailureThenRetry(t *testing.T) {
	p, _ := newPipeline(t, nil)
	s := &shop{status: 500}
	res := p.Handle(context.Background(), post(msg("evt", "o", "t", 5)), s.forward)
	expect(t, res, 502, reason.UpstreamFailed)
	if string(res.Response.Body) != "fail" || res.Outcome != OutcomeFailed {
		t.Fatalf("ack %q outcome %s", res.Response.Body, res.Outcome)
	}
	s.status = 0
	s.err = errors.New("connection refused")
	expect(t, p.Handle(context.Background(), post(msg("evt", "o", "t", 5)), s.forward), 502, reason.UpstreamFailed)
	s.err = nil
	expect(t, p.Handle(context.Background(), post(msg("evt", "o", "t", 5)), s.forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(msg("evt", "o", "t", 5)), s.forward), 200, reason.Duplicate)
	if s.count() != 2 { // the 500 answer, then the accepted retry
		t.Fatalf("shop got %d deliveries, want 2", s.count())
	}
}

func TestConcurrentCopiesDeliveredOnce(t *testing.T) {
	p, _ := newPipeline(t, nil)
	s := &shop{delay: 20 * time.Millisecond}
	var wg sync.WaitGroup
	codes := make(chan reason.Code, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- p.Handle(context.Background(), post(msg("same", "o", "t", 5)), s.forward).Code
		}()
	}
	wg.Wait()
	close(codes)
	counts := map[reason.Code]int{}
	for c := range codes {
		counts[c]++
	}
	if s.count() != 1 || counts[reason.Forwarded] != 1 || counts[reason.InFlight]+counts[reason.Duplicate] != 19 {
		t.Fatalf("shop got %d, codes %v", s.count(), counts)
	}
}

func TestDuplicatePaymentFlagged(t *testing.T) {
	p, _ := newPipeline(t, nil)
	s := &shop{}
	expect(t, p.Handle(context.Background(), post(msg("e1", "order-9", "txn-A", 100)), s.forward), 200, reason.Forwarded)
	res := p.Handle(context.Background(), post(msg("e2", "order-9", "txn-B", 100)), s.forward)
	expect(t, res, 200, reason.Forwarded)
	if got := s.got[1].Header.Get(HeaderDuplicatePayment); got != "txn-A" || res.DuplicateOf != "txn-A" {
		t.Fatalf("Payguard-Duplicate-Payment = %q (result %q), want txn-A", got, res.DuplicateOf)
	}
	if s.got[0].Header.Get(HeaderDuplicatePayment) != "" {
		t.Fatal("first payment flagged")
	}
	// A refund notice for the same order is not a second payment.
	b, _ := json.Marshal(fakeMsg{ID: "e3", Order: "order-9", Txn: "txn-A", Amount: 100, Status: "refunded", Sig: "good"})
	p.Handle(context.Background(), post(b), s.forward)
	if s.got[2].Header.Get(HeaderDuplicatePayment) != "" {
		t.Fatal("refund flagged as duplicate payment")
	}
}

func TestFreshness(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p, _ := newPipeline(t, func(c *Config) { c.Now = func() time.Time { return now }; c.Tolerance = 5 * time.Minute })
	mk := func(id string, ts int64, nonce string) []byte {
		b, _ := json.Marshal(fakeMsg{ID: id, Order: "o" + id, Txn: "t" + id, TS: ts, Nonce: nonce, Sig: "good"})
		return b
	}
	s := &shop{}
	expect(t, p.Handle(context.Background(), post(mk("a", now.Unix()-299, "n1")), s.forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(mk("b", now.Unix()-301, "n2")), s.forward), 401, reason.StaleTimestamp)
	expect(t, p.Handle(context.Background(), post(mk("c", now.Unix()+301, "n3")), s.forward), 401, reason.StaleTimestamp)
	expect(t, p.Handle(context.Background(), post(mk("d", now.Unix(), "n1")), s.forward), 401, reason.ReplayedNonce)
	if s.count() != 1 {
		t.Fatalf("shop got %d", s.count())
	}
}

// failingStore is unreachable.
type failingStore struct{ store.Store }

var errDown = fmt.Errorf("%w: dial tcp: connection refused", store.ErrUnavailable)

func (failingStore) ClaimEvent(context.Context, string, string, time.Duration) (store.Claim, error) {
	return store.Claim{}, errDown
}
func (failingStore) RecordNonce(context.Context, string, string, time.Duration) (bool, error) {
	return false, errDown
}
func (failingStore) AdmitEvent(context.Context, store.Admission) (store.Admitted, error) {
	return store.Admitted{}, errDown
}

func TestStoreUnavailableFailsClosed(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.Store = failingStore{c.Store} })
	s := &shop{}
	res := p.Handle(context.Background(), post(msg("e", "o", "t", 1)), s.forward)
	expect(t, res, 503, reason.StoreUnavailable)
	if string(res.Response.Body) != "fail" || s.count() != 0 {
		t.Fatalf("ack %q, shop got %d", res.Response.Body, s.count())
	}
	b, _ := json.Marshal(fakeMsg{ID: "n", Nonce: "x", TS: time.Now().Unix(), Sig: "good"})
	expect(t, p.Handle(context.Background(), post(b), s.forward), 503, reason.StoreUnavailable)
}

func TestNormalizedAndSigned(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	p, _ := newPipeline(t, func(c *Config) {
		c.Forward = ForwardNormalized
		c.UpstreamSecrets = [][]byte{secret}
		c.Now = func() time.Time { return now }
	})
	s := &shop{}
	expect(t, p.Handle(context.Background(), post(msg("e", "o-1", "t-1", 1234)), s.forward), 200, reason.Forwarded)
	out := s.got[0]
	var body map[string]any
	if err := json.Unmarshal(out.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["id"] != "e" || body["amount"] != float64(1234) || body["status"] != "paid" || body["type"] != "payment.succeeded" ||
		body["out_trade_no"] != "o-1" || body["provider"] != "fake" || body["query"] != nil {
		t.Fatalf("normalized body %s", out.Body)
	}
	if raw, _ := body["raw"].(map[string]any); raw["order"] != "o-1" {
		t.Fatalf("raw %v", body["raw"])
	}
	if out.Header.Get("Content-Type") != "application/json" {
		t.Fatal("content type")
	}
	// Verify as a shop would with a Standard Webhooks library.
	id, ts := out.Header.Get("Webhook-Id"), out.Header.Get("Webhook-Timestamp")
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "." + ts + "." + string(out.Body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if id != "e" || ts != strconv.FormatInt(now.Unix(), 10) || out.Header.Get("Webhook-Signature") != want {
		t.Fatalf("webhook headers %v, want sig %s", out.Header, want)
	}
}

func TestPassthroughIsNeverClaimed(t *testing.T) {
	p, st := newPipeline(t, func(c *Config) { c.Provider = &fakeProvider{traits: provider.Traits{Method: "GET", Passthrough: true}} })
	s := &shop{status: 302}
	in := post(msg("e", "o", "t", 1))
	in.Method = "GET"
	for i := 0; i < 2; i++ {
		res := p.Handle(context.Background(), in, s.forward)
		if !res.Response.Written || res.Code != reason.Forwarded || res.Response.Status != 302 {
			t.Fatalf("passthrough: %+v", res)
		}
		in = post(msg("e", "o", "t", 1))
		in.Method = "GET"
	}
	if s.count() != 2 {
		t.Fatalf("shop got %d, want both returns", s.count())
	}
	if !s.got[0].Passthrough {
		t.Fatal("the forwarder was not told to pass the shop's answer through")
	}
	// Nothing was claimed: a notify for the same event is still new.
	c, err := st.ClaimEvent(context.Background(), "fake", "e", time.Second)
	if err != nil || c.State != store.Claimed {
		t.Fatalf("claim after return: %v %v", c.State, err)
	}
	in = post(msg("e", "o", "t", 1))
	expect(t, p.Handle(context.Background(), in, s.forward), 405, reason.MethodNotAllowed)
}

// fakeQuerier answers from a table and counts calls.
type fakeQuerier struct {
	calls atomic.Int32
	res   *provider.QueryResult
	err   error
	delay time.Duration
}

func (q *fakeQuerier) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	q.calls.Add(1)
	time.Sleep(q.delay)
	if q.err != nil {
		return nil, q.err
	}
	r := *q.res
	return &r, nil
}

func TestQueryStage(t *testing.T) {
	paid := &provider.QueryResult{Status: "paid", Amount: 1234, Currency: "CNY", OutTradeNo: "o", TransactionID: "t"}
	t.Run("confirmed", func(t *testing.T) {
		q := &fakeQuerier{res: paid}
		p, _ := newPipeline(t, func(c *Config) { c.Querier = q; c.Forward = ForwardNormalized })
		s := &shop{}
		expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward), 200, reason.Forwarded)
		if s.got[0].Header.Get(HeaderQuery) != "confirmed" || !strings.Contains(string(s.got[0].Body), `"query":{"status":"paid","amount":1234`) {
			t.Fatalf("headers %v body %s", s.got[0].Header, s.got[0].Body)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		for name, r := range map[string]provider.QueryResult{
			"amount": {Status: "paid", Amount: 1, Currency: "CNY"}, "status": {Status: "pending", Amount: 1234},
			"currency": {Status: "paid", Amount: 1234, Currency: "USD"}, "order": {Status: "paid", Amount: 1234, OutTradeNo: "x"},
			"txn": {Status: "paid", Amount: 1234, TransactionID: "x"},
		} {
			r := r
			p, _ := newPipeline(t, func(c *Config) { c.Querier = &fakeQuerier{res: &r} })
			s := &shop{}
			res := p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward)
			expect(t, res, 403, reason.QueryMismatch)
			if s.count() != 0 {
				t.Fatalf("%s: forwarded", name)
			}
		}
	})
	t.Run("unavailable then back", func(t *testing.T) {
		q := &fakeQuerier{err: errors.New("timeout")}
		p, _ := newPipeline(t, func(c *Config) { c.Querier = q })
		s := &shop{}
		res := p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward)
		expect(t, res, 503, reason.QueryUnavailable)
		if string(res.Response.Body) != "fail" || s.count() != 0 {
			t.Fatal("acknowledged or forwarded while the query was down")
		}
		q.err, q.res = nil, paid
		expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward), 200, reason.Forwarded)
	})
	t.Run("singleflight and cache", func(t *testing.T) {
		q := &fakeQuerier{res: paid, delay: 50 * time.Millisecond}
		p, _ := newPipeline(t, func(c *Config) { c.Querier = q; c.QueryCache = time.Minute })
		s := &shop{}
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				// different events for one order: all must pass the query
				p.Handle(context.Background(), post(msg(fmt.Sprint("e", i), "o", "t", 1234)), s.forward)
			}(i)
		}
		wg.Wait()
		if q.calls.Load() != 1 || s.count() != 20 {
			t.Fatalf("%d query calls for 20 concurrent notifications, shop got %d", q.calls.Load(), s.count())
		}
	})
	t.Run("stale cache asked again", func(t *testing.T) {
		q := &fakeQuerier{res: &provider.QueryResult{Status: "pending", Amount: 1234}}
		p, _ := newPipeline(t, func(c *Config) { c.Querier = q; c.QueryCache = time.Minute })
		s := &shop{}
		b, _ := json.Marshal(fakeMsg{ID: "p", Order: "o", Txn: "t", Amount: 1234, Status: "pending", Sig: "good"})
		expect(t, p.Handle(context.Background(), post(b), s.forward), 200, reason.Forwarded)
		q.res = paid
		expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward), 200, reason.Forwarded)
		if q.calls.Load() != 2 {
			t.Fatalf("calls %d", q.calls.Load())
		}
	})
}

func TestCompareQueryRefunds(t *testing.T) {
	n := &notification.Notification{Status: notification.StatusRefunded, Amount: 500, Currency: "CNY", OutTradeNo: "o"}
	for _, c := range []struct {
		q  provider.QueryResult
		ok bool
	}{
		{provider.QueryResult{Status: "paid", Amount: 1000}, true},     // partial refund, trade still paid
		{provider.QueryResult{Status: "closed", Amount: 500}, true},    // full refund closed the trade
		{provider.QueryResult{Status: "refunded", Amount: 1000}, true}, // WeChat trade_state REFUND
		{provider.QueryResult{Status: "paid", Amount: 499}, false},     // refund larger than the trade
		{provider.QueryResult{Status: "pending", Amount: 1000}, false}, // never paid
	} {
		err := CompareQuery(n, &c.q)
		if (err == nil) != c.ok {
			t.Errorf("%+v: err %v, want ok=%v", c.q, err, c.ok)
		}
	}
}
