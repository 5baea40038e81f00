package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/store/redistest"
)

// shopOrders is the shop's order-record API that order_lookup asks: what
// it answers is set per order number, and can change between deliveries.
type shopOrders struct {
	mu      sync.Mutex
	answers map[string]func(w http.ResponseWriter, r *http.Request)
	asked   []string
	srv     *httptest.Server
}

func newShopOrders(t *testing.T) *shopOrders {
	s := &shopOrders{answers: map[string]func(http.ResponseWriter, *http.Request){}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		no := strings.TrimPrefix(r.URL.Path, "/orders/")
		s.mu.Lock()
		s.asked = append(s.asked, no)
		answer := s.answers[no]
		s.mu.Unlock()
		if answer == nil {
			http.NotFound(w, r)
			return
		}
		answer(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *shopOrders) set(no string, answer func(http.ResponseWriter, *http.Request)) {
	s.mu.Lock()
	s.answers[no] = answer
	s.mu.Unlock()
}

func orderJSON(amount int64, currency, status string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"amount":%d,"currency":%q,"status":%q}`, amount, currency, status)
	}
}

// policyStack is a Caddy whose routes exercise policies and the order
// lookup, with a file audit sink.
type policyStack struct {
	base   string
	shop   *recorder
	orders *shopOrders
	audit  string
}

// everyVariable reads each variable a policy sees, with values only the
// right binding gives.
const everyVariable = `notification.id == "n-vars" && notification.provider == "alipay" &&
	notification.type == "payment.succeeded" && notification.out_trade_no == "ord-vars" &&
	notification.transaction_id == "T-vars" && notification.amount == 1234 && notification.currency == "CNY" &&
	notification.status == "paid" && notification.occurred_at < request.time &&
	notification.refund_amount == 0 && notification.refund_id == "" && notification.duplicate_of == "" &&
	notification.raw.seller_id == "2088000000000001" && notification.raw.total_amount == "12.34" &&
	query == null && order.amount == 1234 && order.currency == "CNY" && order.status == "unpaid" &&
	request.remote_ip == "127.0.0.1" && request.path == "/p/vars" &&
	request.headers["X-Shop-Test"] == "yes" && !("Payguard-Amount" in request.headers) &&
	request.time > timestamp("2026-01-01T00:00:00Z")`

const costlyPolicy = `[0,1,2,3,4,5,6,7,8,9].all(a, [0,1,2,3,4,5,6,7,8,9].all(b, [0,1,2,3,4,5,6,7,8,9].all(c, [0,1,2,3,4,5,6,7,8,9].all(d, [0,1,2,3,4,5,6,7,8,9].all(e, a+b+c+d+e >= 0)))))`

func startPolicyStack(t *testing.T, storeLines string) *policyStack {
	t.Helper()
	keysFor(t)
	st := &policyStack{shop: newRecorder(t), orders: newShopOrders(t), audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	port, closed := freePort(t), freePort(t)
	lookup := st.orders.srv.URL + "/orders/{out_trade_no}"
	route := func(path, extra string) string {
		return fmt.Sprintf(`	handle %s {
		payguard alipay {
			app_id 2021000000000001
			public_key_file %s
			claim_lease 10s
%s
		}
		reverse_proxy %s
	}
`, path, testKeys.alipayPubFile, extra, strings.TrimPrefix(st.shop.srv.URL, "http://"))
	}
	var routes strings.Builder
	for _, r := range [][2]string{
		{"/p/vars", "\t\t\torder_lookup " + lookup + "\n\t\t\tpolicy `" + strings.ReplaceAll(everyVariable, "\n", " ") + "`"},
		{"/p/deny", "\t\t\tpolicy `notification.amount > 0`\n\t\t\tpolicy `notification.amount < 1000`"},
		{"/p/shipped", "\t\t\tpolicy ../policies/alipay.cel"},
		{"/p/runtime", "\t\t\tpolicy `notification.raw.no_such_field == \"x\"`"},
		{"/p/cost", "\t\t\tpolicy `" + costlyPolicy + "`"},
		{"/p/order", "\t\t\torder_lookup " + lookup + "\n\t\t\torder_timeout 300ms"},
		{"/p/order-policy", "\t\t\torder_lookup " + lookup + "\n\t\t\tpolicy `order.status == \"unpaid\" && order.amount >= notification.amount - 100`"},
		{"/p/order-down", fmt.Sprintf("\t\t\torder_lookup http://127.0.0.1:%d/orders/{out_trade_no}", closed)},
	} {
		routes.WriteString(route(r[0], r[1]))
	}
	startCaddy(t, testGlobals(storeLines, "audit file "+st.audit)+fmt.Sprintf(`
http://127.0.0.1:%d {
%s}
`, port, routes.String()))
	st.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	return st
}

// auditRecords reads the audit file's records so far.
func (st *policyStack) auditRecords(t *testing.T) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(st.audit)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func (st *policyStack) lastAudit(t *testing.T) map[string]any {
	recs := st.auditRecords(t)
	return recs[len(recs)-1]
}

func policyStores(t *testing.T, f func(t *testing.T, st *policyStack)) {
	t.Run("memory", func(t *testing.T) { f(t, startPolicyStack(t, "store memory")) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, startPolicyStack(t, "store redis "+srv.URL()+" {\n\t\t\tkey_prefix pol:\n\t\t}"))
	})
}

func TestPoliciesThroughCaddy(t *testing.T) {
	policyStores(t, func(t *testing.T, st *policyStack) {
		st.orders.set("ord-vars", orderJSON(1234, "CNY", "unpaid"))
		body := mustSign(t, signer(), notifyParams("n-vars", "ord-vars", "T-vars", "12.34"))
		resp, ack := postForm(t, st.base+"/p/vars", body, map[string]string{"X-Shop-Test": "yes", "Payguard-Amount": "1"})
		want(t, resp, ack, 200, "forwarded", "success")

		// The same notification without the header one condition reads:
		// denied, named in the answer and the audit record.
		body = mustSign(t, signer(), notifyParams("n-vars2", "ord-vars", "T-vars", "12.34"))
		resp, ack = postForm(t, st.base+"/p/vars", body, nil)
		want(t, resp, ack, 403, "policy_denied", "fail")

		cases := []struct {
			name, path, denier string
		}{
			{"the second of two policies returns false", "/p/deny", "notification.amount < 1000"},
			{"a shipped policy file needs the query: null query is an error", "/p/shipped", "../policies/alipay.cel"},
			{"a runtime error denies", "/p/runtime", `notification.raw.no_such_field == "x"`},
			{"the cost limit denies", "/p/cost", policy.InlineName(costlyPolicy)},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := st.shop.count()
				id := fmt.Sprintf("n-deny-%d", i)
				body := mustSign(t, signer(), notifyParams(id, "ord-deny", "T-deny", "12.34"))
				resp, ack := postForm(t, st.base+c.path, body, nil)
				want(t, resp, ack, 403, "policy_denied", "fail")
				if st.shop.count() != before {
					t.Fatal("a denied notification reached the shop")
				}
				rec := st.lastAudit(t)
				if rec["event_id"] != id || rec["reason"] != "policy_denied" || rec["outcome"] != "rejected" {
					t.Fatalf("audit record %v", rec)
				}
				name, _ := rec["policy"].(string)
				if name != c.denier {
					t.Errorf("audit policy %q, want %q", name, c.denier)
				}
				// Denied is not done: the claim was released, so the same
				// notification is judged again, not acknowledged as a duplicate.
				resp, ack = postForm(t, st.base+c.path, body, nil)
				want(t, resp, ack, 403, "policy_denied", "fail")
			})
		}
	})
}

func TestOrderLookupThroughCaddy(t *testing.T) {
	policyStores(t, func(t *testing.T, st *policyStack) {
		st.orders.set("ord-match", orderJSON(1234, "CNY", "unpaid"))
		st.orders.set("ord-amount", orderJSON(1000, "CNY", "unpaid"))
		st.orders.set("ord-currency", orderJSON(1234, "USD", "unpaid"))
		st.orders.set("ord-5xx", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) })
		st.orders.set("ord-html", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>shop</html>") })
		st.orders.set("ord-slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		st.orders.set("ord-redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/orders/ord-match", http.StatusFound)
		})
		st.orders.set("ord-partial", orderJSON(1200, "CNY", "unpaid"))
		st.orders.set("ord-paid", orderJSON(1234, "CNY", "paid"))
		cases := []struct {
			name, path, order string
			status            int
			reason, ack       string
		}{
			{"match", "/p/order", "ord-match", 200, "forwarded", "success"},
			{"amount mismatch", "/p/order", "ord-amount", 403, "order_mismatch", "fail"},
			{"currency mismatch", "/p/order", "ord-currency", 403, "order_mismatch", "fail"},
			{"missing order", "/p/order", "ord-none", 403, "order_mismatch", "fail"},
			{"shop 5xx", "/p/order", "ord-5xx", 503, "query_unavailable", "fail"},
			{"not JSON", "/p/order", "ord-html", 503, "query_unavailable", "fail"},
			{"slow", "/p/order", "ord-slow", 503, "query_unavailable", "fail"},
			{"redirect", "/p/order", "ord-redirect", 503, "query_unavailable", "fail"},
			{"unreachable", "/p/order-down", "ord-match", 503, "query_unavailable", "fail"},
			// A policy that reads order turns the default check off.
			{"policy allows a partial amount", "/p/order-policy", "ord-partial", 200, "forwarded", "success"},
			{"policy refuses an order already paid", "/p/order-policy", "ord-paid", 403, "policy_denied", "fail"},
			{"missing is still order_mismatch", "/p/order-policy", "ord-none", 403, "order_mismatch", "fail"},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := st.shop.count()
				body := mustSign(t, signer(), notifyParams(fmt.Sprintf("n-ord-%d", i), c.order, fmt.Sprintf("T-ord-%d", i), "12.34"))
				resp, ack := postForm(t, st.base+c.path, body, nil)
				want(t, resp, ack, c.status, c.reason, c.ack)
				if delivered := st.shop.count() - before; delivered != map[bool]int{true: 1, false: 0}[c.status == 200] {
					t.Fatalf("%d deliveries", delivered)
				}
			})
		}
	})
}

// TestOrderLookupOutageReleasesClaim: a 503 leaves nothing claimed, so the
// provider's retry, once the shop answers again, is delivered.
func TestOrderLookupOutageReleasesClaim(t *testing.T) {
	policyStores(t, func(t *testing.T, st *policyStack) {
		st.orders.set("ord-flaky", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
		body := mustSign(t, signer(), notifyParams("n-flaky", "ord-flaky", "T-flaky", "12.34"))
		resp, ack := postForm(t, st.base+"/p/order", body, nil)
		want(t, resp, ack, 503, "query_unavailable", "fail")
		st.orders.set("ord-flaky", orderJSON(1234, "CNY", "unpaid"))
		resp, ack = postForm(t, st.base+"/p/order", body, nil)
		want(t, resp, ack, 200, "forwarded", "success")
		resp, ack = postForm(t, st.base+"/p/order", body, nil)
		want(t, resp, ack, 200, "duplicate", "success")
		if st.shop.count() != 1 {
			t.Fatalf("shop got %d", st.shop.count())
		}
		if rec := st.auditRecords(t)[0]; rec["reason"] != "query_unavailable" || rec["outcome"] != "failed" {
			t.Errorf("the outage's audit record: %v", rec)
		}
	})
}
