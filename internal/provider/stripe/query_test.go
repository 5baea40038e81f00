package stripe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// stripeAPI is a fake Stripe API: answer decides each response after the
// request's authentication was checked.
func stripeAPI(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer "+testAPIKey {
			t.Errorf("request %s with Authorization %q", r.Method, r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newTestQuery(t *testing.T, endpoint string, client *http.Client) *QueryClient {
	t.Helper()
	if client == nil {
		client = provider.NewHTTPClient(2 * time.Second)
	}
	q, err := NewQueryClient(QueryConfig{APIKey: []byte(testAPIKey), Endpoint: endpoint, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func notificationOf(t *testing.T, body string) *notification.Notification {
	t.Helper()
	n := verifyBody(t, body)
	return &n
}

func serveJSON(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestQueryOrderConfirms(t *testing.T) {
	srv, calls := stripeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events/evt_1PAYGUARD" || r.Header.Get("Stripe-Version") != "2024-06-20" || r.Header.Get("Stripe-Account") != "" {
			t.Errorf("path %s version %q account %q", r.URL.Path, r.Header.Get("Stripe-Version"), r.Header.Get("Stripe-Account"))
		}
		serveJSON(200, paidBody)(w, r)
	})
	res, err := newTestQuery(t, srv.URL+"/", nil).QueryOrder(context.Background(), notificationOf(t, paidBody))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != notification.StatusPaid || res.Amount != 1234 || res.Currency != "USD" ||
		res.OutTradeNo != "ORDER-1" || res.TransactionID != "pi_3PAYGUARD" || res.Raw["id"] != "evt_1PAYGUARD" {
		t.Fatalf("%+v", res)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls", calls.Load())
	}
}

func TestQueryOrderConnectedAccount(t *testing.T) {
	body := strings.Replace(paidBody, `"livemode":false,"pending`, `"account":"acct_1ABC","livemode":false,"pending`, 1)
	srv, _ := stripeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Stripe-Account") != "acct_1ABC" {
			t.Errorf("Stripe-Account %q", r.Header.Get("Stripe-Account"))
		}
		serveJSON(200, body)(w, r)
	})
	if _, err := newTestQuery(t, srv.URL, nil).QueryOrder(context.Background(), notificationOf(t, body)); err != nil {
		t.Fatal(err)
	}
}

func TestQueryOrderMismatch(t *testing.T) {
	refund := func(refunded, latest string) string {
		return event("charge.refunded", `{"id":"ch_3PAY","object":"charge","amount":10000,"amount_refunded":`+refunded+
			`,"captured":true,"currency":"usd","payment_intent":"pi_3PAY","status":"succeeded","refunds":{"object":"list","data":[{"id":"`+latest+`","object":"refund","created":1}]}}`)
	}
	cases := []struct {
		name, says, stripe string
	}{
		{"amount", paidBody, strings.Replace(paidBody, `"amount_received":1234`, `"amount_received":1`, 1)},
		{"currency", paidBody, strings.Replace(paidBody, `"usd"`, `"eur"`, 1)},
		{"order", paidBody, strings.Replace(paidBody, `ORDER-1`, `ORDER-2`, 1)},
		{"type", paidBody, piEvent("payment_intent.processing", "processing", 1234, 0, "usd", `{"out_trade_no":"ORDER-1"}`)},
		{"other event", paidBody, strings.Replace(paidBody, `evt_1PAYGUARD`, `evt_2OTHER`, 1)},
		{"live event", paidBody, strings.ReplaceAll(paidBody, `"livemode":false`, `"livemode":true`)},
		{"refunded amount", refund("3000", "re_1"), refund("2000", "re_1")},
		{"refund id", refund("3000", "re_1"), refund("3000", "re_2")},
		{"no such event", paidBody, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := stripeAPI(t, func(w http.ResponseWriter, r *http.Request) {
				if c.stripe == "" {
					serveJSON(404, `{"error":{"code":"resource_missing","message":"No such event: 'evt_1PAYGUARD'","param":"id","type":"invalid_request_error"}}`)(w, r)
					return
				}
				serveJSON(200, c.stripe)(w, r)
			})
			_, err := newTestQuery(t, srv.URL, nil).QueryOrder(context.Background(), notificationOf(t, c.says))
			wantCode(t, err, reason.QueryMismatch)
		})
	}
	t.Run("live notification, test key", func(t *testing.T) {
		srv, calls := stripeAPI(t, serveJSON(200, paidBody))
		live := strings.ReplaceAll(paidBody, `"livemode":false`, `"livemode":true`)
		_, err := newTestQuery(t, srv.URL, nil).QueryOrder(context.Background(), notificationOf(t, live))
		wantCode(t, err, reason.QueryMismatch)
		if calls.Load() != 0 {
			t.Fatal("asked Stripe with a key of the other mode")
		}
	})
	t.Run("refund id absent in one rendering", func(t *testing.T) {
		noList := event("charge.refunded", `{"id":"ch_3PAY","object":"charge","amount":10000,"amount_refunded":3000,"captured":true,"currency":"usd","payment_intent":"pi_3PAY","status":"succeeded"}`)
		srv, _ := stripeAPI(t, serveJSON(200, noList))
		if _, err := newTestQuery(t, srv.URL, nil).QueryOrder(context.Background(), notificationOf(t, refund("3000", "re_1"))); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueryOrderOutage(t *testing.T) {
	n := notificationOf(t, paidBody)
	for name, answer := range map[string]func(http.ResponseWriter, *http.Request){
		"500":              serveJSON(500, `{"error":{"type":"api_error"}}`),
		"429":              serveJSON(429, `{"error":{"code":"rate_limit","type":"invalid_request_error"}}`),
		"401 revoked key":  serveJSON(401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`),
		"404 not Stripe's": serveJSON(404, `<html>not found</html>`),
		"not json":         serveJSON(200, `<html>`),
		"not an event":     serveJSON(200, `{"object":"list","data":[]}`),
		"too large": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"a":"` + strings.Repeat("x", provider.MaxAnswer) + `"}`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := stripeAPI(t, answer)
			_, err := newTestQuery(t, srv.URL, nil).QueryOrder(context.Background(), n)
			wantCode(t, err, reason.QueryUnavailable)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		_, err := newTestQuery(t, srv.URL, nil).QueryOrder(context.Background(), n)
		wantCode(t, err, reason.QueryUnavailable)
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv, _ := stripeAPI(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		_, err := newTestQuery(t, srv.URL, provider.NewHTTPClient(50*time.Millisecond)).QueryOrder(context.Background(), n)
		wantCode(t, err, reason.QueryUnavailable)
	})
	t.Run("redirect never followed", func(t *testing.T) {
		var elsewhere atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			elsewhere.Add(1)
			serveJSON(200, paidBody)(w, r)
		}))
		defer other.Close()
		srv, _ := stripeAPI(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		})
		_, err := newTestQuery(t, srv.URL, nil).QueryOrder(context.Background(), n)
		wantCode(t, err, reason.QueryUnavailable)
		// A client that hands redirects back instead of failing them.
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		_, err = newTestQuery(t, srv.URL, noFollow).QueryOrder(context.Background(), n)
		wantCode(t, err, reason.QueryUnavailable)
		if elsewhere.Load() != 0 {
			t.Fatalf("the redirect was followed %d times", elsewhere.Load())
		}
	})
}

func TestQueryByOrderNo(t *testing.T) {
	pi := func(id, status string, amount, received int64, md string) string {
		return `{"id":"` + id + `","object":"payment_intent","amount":` + itoa(amount) + `,"amount_received":` + itoa(received) +
			`,"currency":"isk","livemode":false,"metadata":` + md + `,"status":"` + status + `"}`
	}
	search := func(items ...string) string {
		return `{"object":"search_result","data":[` + strings.Join(items, ",") + `],"has_more":false,"next_page":null,"url":"/v1/payment_intents/search"}`
	}
	var answer string
	srv, _ := stripeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		want, _ := SearchQuery(`O'1`)
		if r.URL.Path != searchPath || r.URL.Query().Get("query") != want || r.URL.Query().Get("limit") != "100" {
			t.Errorf("search %s %q", r.URL.Path, r.URL.RawQuery)
		}
		serveJSON(200, answer)(w, r)
	})
	q := newTestQuery(t, srv.URL, nil)
	md := `{"out_trade_no":"O'1"}`
	cases := []struct {
		name   string
		answer string
		status notification.Status
		amount int64
		txn    string
	}{
		{"paid beats canceled", search(pi("pi_A", "canceled", 50000, 0, md), pi("pi_B", "succeeded", 50000, 50000, md)), notification.StatusPaid, 500, "pi_B"},
		{"in progress", search(pi("pi_A", "requires_action", 50000, 0, md), pi("pi_C", "canceled", 50000, 0, md)), notification.StatusPending, 500, "pi_A"},
		{"canceled", search(pi("pi_C", "canceled", 70000, 0, md)), notification.StatusClosed, 700, "pi_C"},
		{"by order_id", search(pi("pi_D", "succeeded", 100, 100, `{"order_id":"O'1"}`)), notification.StatusPaid, 1, "pi_D"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			answer = c.answer
			res, err := q.QueryByOrderNo(context.Background(), `O'1`)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.status || res.Amount != c.amount || res.Currency != "ISK" || res.TransactionID != c.txn || res.OutTradeNo != `O'1` {
				t.Fatalf("%+v", res)
			}
		})
	}
	for name, a := range map[string]string{
		"none":               search(),
		"another order":      search(pi("pi_E", "succeeded", 100, 100, `{"out_trade_no":"O'1 "}`)),
		"shadowed order_id":  search(pi("pi_E", "succeeded", 100, 100, `{"out_trade_no":"X","order_id":"O'1"}`)),
		"live PaymentIntent": search(strings.Replace(pi("pi_E", "succeeded", 100, 100, md), `"livemode":false`, `"livemode":true`, 1)),
	} {
		t.Run(name, func(t *testing.T) {
			answer = a
			_, err := q.QueryByOrderNo(context.Background(), `O'1`)
			wantCode(t, err, reason.QueryMismatch)
		})
	}
	for name, a := range map[string]string{
		"not a search":   `{"object":"list","data":[]}`,
		"unknown status": search(pi("pi_E", "exploded", 100, 100, md)),
		"not a PI":       search(`{"id":"ch_1","object":"charge"}`),
	} {
		t.Run(name, func(t *testing.T) {
			answer = a
			_, err := q.QueryByOrderNo(context.Background(), `O'1`)
			wantCode(t, err, reason.QueryUnavailable)
		})
	}
}

func TestSearchQueryQuoting(t *testing.T) {
	got, err := SearchQuery(`A'B`)
	if err != nil || got != `metadata['out_trade_no']:'A\'B' OR metadata['order_id']:'A\'B'` {
		t.Fatalf("%s %v", got, err)
	}
	if back, ok := parseSearchQuery(got); !ok || back != `A'B` {
		t.Fatalf("sandbox reads %q %v", back, ok)
	}
	// Nothing that could close the quote or escape it gets through.
	for _, bad := range []string{"", `A\`, `A\' OR status:'succeeded`, "A\x00", "A\n", strings.Repeat("a", maxOrderNoLen+1)} {
		if _, err := SearchQuery(bad); err == nil {
			t.Errorf("%q: searched for", bad)
		}
	}
	srv, calls := stripeAPI(t, serveJSON(200, `{}`))
	_, err = newTestQuery(t, srv.URL, nil).QueryByOrderNo(context.Background(), `A\' OR created>0 OR x:'`)
	wantCode(t, err, reason.QueryMismatch)
	if calls.Load() != 0 {
		t.Fatal("an unquotable order number was sent")
	}
}

func TestNewQueryClientRefuses(t *testing.T) {
	for name, cfg := range map[string]QueryConfig{
		"publishable key": {APIKey: []byte("pk_test_1")},
		"webhook secret":  {APIKey: []byte("whsec_1")},
		"no key":          {},
		"key newline":     {APIKey: []byte(testAPIKey + "\n")},
		"endpoint query":  {APIKey: []byte(testAPIKey), Endpoint: "https://api.stripe.com/?x=1"},
		"endpoint scheme": {APIKey: []byte(testAPIKey), Endpoint: "ftp://api.stripe.com"},
		"endpoint creds":  {APIKey: []byte(testAPIKey), Endpoint: "https://u:p@api.stripe.com"},
	} {
		if _, err := NewQueryClient(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "51Hpayguard") {
			t.Errorf("%s: error quotes the key: %v", name, err)
		}
	}
	q, err := NewQueryClient(QueryConfig{APIKey: []byte("rk_live_abc")})
	if err != nil || q.Endpoint() != DefaultEndpoint || !q.Live() {
		t.Fatalf("%v %s %v", err, q.Endpoint(), q.Live())
	}
}
