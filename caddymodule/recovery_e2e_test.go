package caddymodule_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/sim"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/store/redistest"
)

// Lost-callback recovery through a real Caddy against the sandbox
// (DESIGN.md section 11), offsets compressed to fractions of a second.

const recoveryToken = "watch-token-0123456789abcdef"

// queryLog counts the sandbox's queries per order: the alipay sandbox
// logs "alipay query out_trade_no=<no>: ..." for each one it answers.
type queryLog struct {
	mu     sync.Mutex
	counts map[string]int
	onHit  map[string]func(n int)
}

func (q *queryLog) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	no, ok := strings.CutPrefix(line, "alipay query out_trade_no=")
	if !ok {
		return
	}
	no, _, _ = strings.Cut(no, " ")
	no = strings.TrimSuffix(no, ":")
	q.mu.Lock()
	q.counts[no]++
	n, hit := q.counts[no], q.onHit[no]
	q.mu.Unlock()
	if hit != nil {
		hit(n)
	}
}

func (q *queryLog) count(no string) int { q.mu.Lock(); defer q.mu.Unlock(); return q.counts[no] }

func (q *queryLog) on(no string, f func(n int)) { q.mu.Lock(); q.onHit[no] = f; q.mu.Unlock() }

type recoveryStack struct {
	base, admin string
	alipay      *sim.Provider
	sandbox     *sim.Server
	sandboxURL  string
	shop        *recorder // the notify route's upstream
	deliver     *recorder // deliver_to
	queries     *queryLog
	auditPath   string
}

func startRecoveryStack(t *testing.T, storeLines string) *recoveryStack {
	t.Helper()
	e2eProviders(t) // writes the shared key directory once
	ql := &queryLog{counts: map[string]int{}, onHit: map[string]func(int){}}
	ps, err := sim.Load(e2eKeys.dir, provider.SandboxOptions{Logf: ql.logf})
	if err != nil {
		t.Fatal(err)
	}
	var alipay *sim.Provider
	for _, p := range ps {
		if p.Name() == "alipay" {
			alipay = p
		}
	}
	srv, err := sim.NewServer(sim.ServerConfig{Providers: []*sim.Provider{alipay}})
	if err != nil {
		t.Fatal(err)
	}
	sb := httptestServer(t, srv)
	st := &recoveryStack{alipay: alipay, sandbox: srv, sandboxURL: sb, shop: newRecorder(t), deliver: newRecorder(t),
		queries: ql, auditPath: filepath.Join(t.TempDir(), "audit.jsonl")}
	port, adminPort := freePort(t), freePort(t)
	notify, err := sim.HandlerBlock("alipay", alipay.Settings(sb))
	if err != nil {
		t.Fatal(err)
	}
	route := func(path, block, extra string) string {
		block = strings.TrimSuffix(strings.TrimSpace(block), "}") + extra + "}\n"
		return fmt.Sprintf("\thandle %s {\n%s\t\treverse_proxy %s\n\t}\n", path, indent(block, "\t\t"), strings.TrimPrefix(st.shop.srv.URL, "http://"))
	}
	sched := "\trecover {\n\t\tschedule 300ms 900ms 1500ms\n\t\tdeliver_to " + st.deliver.srv.URL + "/recovered\n\t}\n"
	reportSched := "\torder_namespace reportonly\n\trecover {\n\t\tschedule 300ms 900ms\n\t}\n"
	watch := "payguard alipay {\n\tmode watch\n\tapp_id 2021000000000001\n\twatch_token " + recoveryToken + "\n"
	routes := route("/notify", notify, sched+"\tforward normalized\n\tupstream_secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n") +
		route("/watch", watch+"}", "") +
		route("/report/notify", notify, reportSched) +
		route("/report/watch", watch+"\torder_namespace reportonly\n}", "")
	startCaddy(t, fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	log {
		output discard
	}
	payguard {
		%s
		audit file %s
	}
}

http://127.0.0.1:%d {
%s}
`, adminPort, storeLines, st.auditPath, port, routes))
	st.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	st.admin = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	return st
}

// order registers an order with the sandbox without notifying (what
// `payguard sim notify --no-notify` does): only a query finds it.
func (st *recoveryStack) order(t *testing.T, queryStatus string) sim.Order {
	t.Helper()
	o := sim.Order{Provider: "alipay", OutTradeNo: sim.NewOutTradeNo(time.Now()), Amount: 1234}
	if err := st.alipay.Prepare(&o, time.Now()); err != nil {
		t.Fatal(err)
	}
	if queryStatus != "" {
		o.QueryStatus = queryStatus
	}
	st.sandbox.Book().Put(o)
	return o
}

func (st *recoveryStack) watch(t *testing.T, path, body, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, st.base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

func (st *recoveryStack) register(t *testing.T, path string, o sim.Order, amount int64) {
	t.Helper()
	resp, body := st.watch(t, path, fmt.Sprintf(`{"out_trade_no":%q,"amount":%d,"currency":"CNY"}`, o.OutTradeNo, amount), recoveryToken)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Payguard-Reason") != "watching" ||
		string(body) != fmt.Sprintf(`{"watching":%q}`, o.OutTradeNo) {
		t.Fatalf("watch registration: %d %q %s", resp.StatusCode, resp.Header.Get("Payguard-Reason"), body)
	}
}

// eventually polls cond until it holds or 15s pass: the worker runs on
// its own clock, so the test waits for what it does, not for a time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *recorder) forOrder(no string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, q := range r.reqs {
		if q.header.Get("Payguard-Out-Trade-No") == no {
			out = append(out, q)
		}
	}
	return out
}

func (st *recoveryStack) auditFor(t *testing.T, no string) []map[string]any {
	t.Helper()
	f, err := os.Open(st.auditPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["out_trade_no"] == no {
			out = append(out, m)
		}
	}
	return out
}

func (st *recoveryStack) notify(t *testing.T, o sim.Order) (*http.Response, []byte) {
	t.Helper()
	return sendTo(t, st.base+"/notify", build(t, st.alipay, o))
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func TestRecoveryEndToEnd(t *testing.T) {
	run := func(t *testing.T, storeLines string) {
		st := startRecoveryStack(t, storeLines)
		t.Run("watch registration refusals", func(t *testing.T) { recoveryRefusals(t, st) })
		t.Run("no notification: recovered once, the late notification duplicate", func(t *testing.T) { recoveryDelivered(t, st) })
		t.Run("watch, recover and notify routes share the namespace", func(t *testing.T) { recoveryNamespace(t, st) })
		t.Run("notification first: no recovery", func(t *testing.T) { recoveryNotifyFirst(t, st) })
		t.Run("unpaid then paid: delivered after the second offset", func(t *testing.T) { recoveryUnpaidThenPaid(t, st) })
		t.Run("registered amount wrong: query_mismatch", func(t *testing.T) { recoveryMismatch(t, st) })
		t.Run("deliver_to down: retried, delivered once", func(t *testing.T) { recoveryDeliverDown(t, st) })
		t.Run("no deliver_to: reported only", func(t *testing.T) { recoveryReportOnly(t, st) })
		t.Run("metrics", func(t *testing.T) { recoveryMetrics(t, st) })
	}
	t.Run("memory", func(t *testing.T) { run(t, "store memory") })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		run(t, "store redis "+srv.URL()+" {\n\t\t\tkey_prefix e2e:\n\t\t}")
	})
}

func recoveryRefusals(t *testing.T, st *recoveryStack) {
	for _, c := range []struct {
		body, token, reason string
		status              int
	}{
		{`{"out_trade_no":"R1"}`, "", "bad_signature", 401},
		{`{"out_trade_no":"R1"}`, recoveryToken + "x", "bad_signature", 401},
		{`{"out_trade_no":""}`, recoveryToken, "malformed", 400},
		{`{"out_trade_no":"R1","amount":"12"}`, recoveryToken, "malformed", 400},
	} {
		resp, body := st.watch(t, "/watch", c.body, c.token)
		if resp.StatusCode != c.status || resp.Header.Get("Payguard-Reason") != c.reason {
			t.Errorf("%s with token %q: %d %q %s; want %d %s", c.body, c.token, resp.StatusCode, resp.Header.Get("Payguard-Reason"), body, c.status, c.reason)
		}
	}
	if st.shop.count() != 0 {
		t.Fatal("a watch route forwarded to the shop")
	}
}

func recoveryDelivered(t *testing.T, st *recoveryStack) {
	o := st.order(t, "")
	st.register(t, "/watch", o, 1234)
	eventually(t, "the recovered delivery", func() bool { return len(st.deliver.forOrder(o.OutTradeNo)) == 1 })
	got := st.deliver.forOrder(o.OutTradeNo)[0]
	for k, v := range map[string]string{
		"Payguard-Source": "recovered", "Payguard-Query": "confirmed", "Payguard-Status": "paid",
		"Payguard-Amount": "1234", "Payguard-Currency": "CNY", "Payguard-Provider": "alipay",
		"Payguard-Transaction-Id": o.TransactionID, "Payguard-Event-Id": "recovered:" + o.TransactionID,
	} {
		if g := got.header.Get(k); g != v {
			t.Errorf("%s = %q, want %q", k, g, v)
		}
	}
	if got.header.Get("Webhook-Signature") == "" || !strings.Contains(got.body, `"status":"paid"`) {
		t.Errorf("delivery not signed or not normalized: %v %s", got.header, got.body)
	}
	if n := st.queries.count(o.OutTradeNo); n != 1 {
		t.Errorf("%d queries, want 1", n)
	}
	// The provider's own notification, late: acknowledged, not forwarded.
	resp, body := st.notify(t, o)
	wantReason(t, resp, body, "duplicate")
	wantAccepted(t, resp, body)
	if n := len(st.shop.forOrder(o.OutTradeNo)); n != 0 {
		t.Fatalf("the late notification reached the shop (%d)", n)
	}
	recs := st.auditFor(t, o.OutTradeNo)
	if len(recs) < 1 || recs[0]["outcome"] != "recovered" || recs[0]["delivered"] != true {
		t.Fatalf("audit %v", recs)
	}
}

// A watch registered on the watch route (app_id only, no keys) is
// recovered by the notify route's worker into the notify route's order
// namespace (provider and merchant, pipeline.Namespace): a second payment
// of the order notified later is flagged as a duplicate payment of the
// recovered one.
func recoveryNamespace(t *testing.T, st *recoveryStack) {
	o := st.order(t, "")
	st.register(t, "/watch", o, 1234)
	eventually(t, "the recovered delivery", func() bool { return len(st.deliver.forOrder(o.OutTradeNo)) == 1 })
	second := o
	second.TransactionID += "2"
	second.EventID += "-2"
	st.sandbox.Book().Put(second)
	resp, body := st.notify(t, second)
	wantReason(t, resp, body, "forwarded")
	got := st.shop.forOrder(o.OutTradeNo)
	if len(got) != 1 || got[0].header.Get("Payguard-Duplicate-Payment") != o.TransactionID {
		t.Fatalf("the second payment reached the shop as %v, want flagged a duplicate of %s", got, o.TransactionID)
	}
}

// recoveryFirstOffset is the notify route's first recovery offset
// (startRecoveryStack's schedule).
const recoveryFirstOffset = 300 * time.Millisecond

func recoveryNotifyFirst(t *testing.T, st *recoveryStack) {
	o := st.order(t, "")
	registered := time.Now() // the watch's clock starts after this
	st.register(t, "/watch", o, 1234)
	resp, body := st.notify(t, o)
	// The notification's answer comes after its hook ended the watch; if
	// it came before the first offset, the worker cannot have taken the
	// order first. On a machine slow enough that it did not, either may
	// have won, and what must hold is exactly once.
	first := time.Since(registered) < recoveryFirstOffset
	// A later watch is the barrier: when it is delivered, the first
	// watch's offsets have passed too.
	barrier := st.order(t, "")
	st.register(t, "/watch", barrier, 1234)
	eventually(t, "the barrier's delivery", func() bool { return len(st.deliver.forOrder(barrier.OutTradeNo)) == 1 })
	recovered, forwarded := len(st.deliver.forOrder(o.OutTradeNo)), len(st.shop.forOrder(o.OutTradeNo))
	if !first {
		t.Logf("the notification was answered %s after the watch began, past the first offset (%s): checking exactly once only",
			time.Since(registered).Round(time.Millisecond), recoveryFirstOffset)
		wantReason(t, resp, body, "forwarded", "duplicate", "in_flight")
		deliveries := func() (int, int) { return len(st.deliver.forOrder(o.OutTradeNo)), len(st.shop.forOrder(o.OutTradeNo)) }
		eventually(t, "the order's delivery", func() bool { r, f := deliveries(); return r+f > 0 })
		if recovered, forwarded = deliveries(); recovered+forwarded != 1 {
			t.Fatalf("the order reached the shop %d times (recovered %d, notified %d), want once", recovered+forwarded, recovered, forwarded)
		}
		return
	}
	wantReason(t, resp, body, "forwarded")
	if recovered != 0 || forwarded != 1 {
		t.Fatalf("%d recovered and %d notified deliveries of a notified order, want 0 and 1", recovered, forwarded)
	}
	if n := st.queries.count(o.OutTradeNo); n != 1 { // the notification's own query stage
		t.Fatalf("%d queries of the notified order, want only the pipeline's", n)
	}
}

func recoveryUnpaidThenPaid(t *testing.T, st *recoveryStack) {
	o := st.order(t, "WAIT_BUYER_PAY")
	st.queries.on(o.OutTradeNo, func(n int) {
		if n == 1 { // the buyer pays after the first query
			paid := o
			paid.QueryStatus = "TRADE_SUCCESS"
			st.sandbox.Book().Put(paid)
		}
	})
	st.register(t, "/watch", o, 1234)
	eventually(t, "the delivery", func() bool { return len(st.deliver.forOrder(o.OutTradeNo)) == 1 })
	if n := st.queries.count(o.OutTradeNo); n != 2 {
		t.Fatalf("%d queries, want 2", n)
	}
}

// onlyAudit waits for the order's one audit record and returns it.
func (st *recoveryStack) onlyAudit(t *testing.T, outTradeNo string) map[string]any {
	t.Helper()
	eventually(t, "the audit record of "+outTradeNo, func() bool { return len(st.auditFor(t, outTradeNo)) == 1 })
	return st.auditFor(t, outTradeNo)[0]
}

func recoveryMismatch(t *testing.T, st *recoveryStack) {
	o := st.order(t, "")
	st.register(t, "/watch", o, 999)
	rec := st.onlyAudit(t, o.OutTradeNo)
	if rec["outcome"] != "unconfirmed" || rec["reason"] != "query_mismatch" {
		t.Fatalf("audit %v", rec)
	}
	if n := len(st.deliver.forOrder(o.OutTradeNo)); n != 0 {
		t.Fatalf("%d deliveries of a mismatching order", n)
	}
}

func recoveryDeliverDown(t *testing.T, st *recoveryStack) {
	o := st.order(t, "")
	st.deliver.setStatus(503)
	st.queries.on(o.OutTradeNo, func(n int) {
		if n == 2 {
			st.deliver.setStatus(200)
		}
	})
	st.register(t, "/watch", o, 1234)
	eventually(t, "the retried delivery", func() bool { return len(st.deliver.forOrder(o.OutTradeNo)) == 2 })
	if rec := st.onlyAudit(t, o.OutTradeNo); rec["outcome"] != "recovered" || rec["delivered"] != true {
		t.Fatalf("audit %v", rec)
	}
}

func recoveryReportOnly(t *testing.T, st *recoveryStack) {
	o := st.order(t, "")
	st.register(t, "/report/watch", o, 1234)
	rec := st.onlyAudit(t, o.OutTradeNo)
	if rec["outcome"] != "recovered" || rec["delivered"] != false {
		t.Fatalf("audit %v", rec)
	}
	if n := len(st.deliver.forOrder(o.OutTradeNo)) + len(st.shop.forOrder(o.OutTradeNo)); n != 0 {
		t.Fatalf("report-only mode sent %d requests", n)
	}
}

func recoveryMetrics(t *testing.T, st *recoveryStack) {
	m := scrape(t, st.admin)
	for _, result := range []string{"delivered", "reported", "unconfirmed", "failed"} {
		k := `payguard_recovery_total{provider="alipay",result="` + result + `"}`
		if m[k] < 1 {
			t.Errorf("%s = %v, want at least 1 (%v)", k, m[k], m)
		}
	}
}

// Two instances on one Redis: the Caddy and a second worker with its own
// connection share the watches; each due order is queried and delivered
// once, and when the second instance dies between offsets the Caddy
// finishes its watches.
func TestRecoveryFleetOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	st := startRecoveryStack(t, "store redis "+srv.URL()+" {\n\t\t\tkey_prefix fleet:\n\t\t}")
	spec, _ := provider.Lookup("alipay")
	built, err := spec.BuildFromSettings(st.alipay.Settings(st.sandboxURL), provider.Settings{Tolerance: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	second := store.NewRedis(redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(srv.URL(), "redis://")}), "fleet:")
	defer second.Close()
	// The second instance's route, configured as the Caddy's: its
	// namespace is the provider and the app_id.
	ns := pipeline.Namespace("", "alipay", "2021000000000001")
	w, err := recovery.New(recovery.Config{
		Provider: "alipay", Namespace: ns, Store: second, Querier: built.Querier.(provider.OrderQuerier),
		Schedule:  []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 1500 * time.Millisecond},
		DeliverTo: st.deliver.srv.URL + "/recovered", Poll: 10 * time.Millisecond,
		// Short, so that when this instance dies holding the watch the
		// survivor takes it over within the test.
		WatchLease: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, kill := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { kill(); <-done }()

	var orders []sim.Order
	for range 10 {
		o := st.order(t, "")
		orders = append(orders, o)
		st.register(t, "/watch", o, 1234)
	}
	for _, o := range orders {
		eventually(t, "delivery of "+o.OutTradeNo, func() bool { return len(st.deliver.forOrder(o.OutTradeNo)) >= 1 })
	}
	// A last barrier order, so late duplicates would have shown.
	pending := st.order(t, "WAIT_BUYER_PAY")
	st.queries.on(pending.OutTradeNo, func(n int) {
		if n == 1 {
			paid := pending
			paid.QueryStatus = "TRADE_SUCCESS"
			st.sandbox.Book().Put(paid)
			kill() // the second instance dies after the first offset
		}
	})
	st.register(t, "/watch", pending, 1234)
	eventually(t, "the survivor's delivery", func() bool { return len(st.deliver.forOrder(pending.OutTradeNo)) == 1 })
	for _, o := range orders {
		if d, q := len(st.deliver.forOrder(o.OutTradeNo)), st.queries.count(o.OutTradeNo); d != 1 || q != 1 {
			t.Errorf("%s: %d deliveries, %d queries; want 1 and 1", o.OutTradeNo, d, q)
		}
	}
}
