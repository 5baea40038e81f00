package paypal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

// verified is o's notification as the provider built from the sandbox's
// settings verifies it.
func verified(t *testing.T, b provider.Built, s *sim, o *sandbox.Order) *notification.Notification {
	t.Helper()
	v, err := b.Provider.VerifyNotify(notify(t, s, o, ""))
	if err != nil {
		t.Fatal(err)
	}
	return &v.Notification
}

func TestQueryConfirmsCapture(t *testing.T) {
	s := loadSim(t)
	book := sandbox.NewOrderBook()
	srv := sandboxServer(t, s, book)
	b := apiProvider(t, s, srv, nil)
	for _, c := range []struct {
		currency string
		amount   int64
	}{{"USD", 1234}, {"HUF", 150000}, {"JPY", 990}} {
		o := newOrder(t, s, c.amount, c.currency)
		book.Put(*o)
		n := verified(t, b, s, o)
		res, err := b.Querier.QueryOrder(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != notification.StatusPaid || res.Amount != c.amount || res.Currency != c.currency ||
			res.OutTradeNo != o.OutTradeNo || res.TransactionID != o.TransactionID {
			t.Fatalf("query %+v for order %+v", res, o)
		}
		if err := pipeline.CompareQuery(n, res); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueryDetectsMismatch(t *testing.T) {
	s := loadSim(t)
	book := sandbox.NewOrderBook()
	srv := sandboxServer(t, s, book)
	b := apiProvider(t, s, srv, nil)

	o := newOrder(t, s, 1234, "USD")
	o.QueryAmount = 1
	book.Put(*o)
	n := verified(t, b, s, o)
	res, err := b.Querier.QueryOrder(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, pipeline.CompareQuery(n, res), reason.QueryMismatch)

	unknown := newOrder(t, s, 1234, "USD") // never put in the book
	_, err = b.Querier.QueryOrder(context.Background(), verified(t, b, s, unknown))
	wantCode(t, err, reason.QueryMismatch)
}

// TestQueryRefundNamesCapture: a refund notification is confirmed by the
// refunded capture, which its "up" link names.
func TestQueryRefundNamesCapture(t *testing.T) {
	s := loadSim(t)
	book := sandbox.NewOrderBook()
	srv := sandboxServer(t, s, book)
	b := apiProvider(t, s, srv, nil)
	o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(time.Now()), Amount: 700, Status: "REFUNDED"}
	if err := s.Prepare(o, time.Now()); err != nil {
		t.Fatal(err)
	}
	book.Put(*o)
	n := verified(t, b, s, o)
	if n.Status != notification.StatusRefunded || n.RefundAmount != 700 || n.Amount != 700 ||
		n.RefundID != refundID(o) || n.TransactionID != o.TransactionID {
		t.Fatalf("refund notification %+v", n)
	}
	res, err := b.Querier.QueryOrder(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != notification.StatusRefunded || res.TransactionID != o.TransactionID {
		t.Fatalf("query %+v", res)
	}
	if err := pipeline.CompareQuery(n, res); err != nil {
		t.Fatal(err)
	}
}

// TestQueryEndpointOverridesQueryBaseOnly: with a query endpoint, the
// capture is fetched there while the token still comes from api_base.
func TestQueryEndpointOverridesQueryBaseOnly(t *testing.T) {
	s := loadSim(t)
	book := sandbox.NewOrderBook()
	var apiPaths, queryPaths []string
	serve := func(paths *[]string) *httptest.Server {
		mux := http.NewServeMux()
		s.Mount(mux, book)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			*paths = append(*paths, r.Method+" "+r.URL.Path)
			mux.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	api, query := serve(&apiPaths), serve(&queryPaths)
	settings := s.Settings(api.URL)
	for i := range settings {
		if settings[i].Query && settings[i].Name == "endpoint" {
			settings[i].Args = []string{query.URL + "/paypal"}
		}
	}
	b := resolveBuild(t, settings, provider.Settings{})
	o := newOrder(t, s, 1234, "USD")
	book.Put(*o)
	if _, err := b.Querier.QueryOrder(context.Background(), verified(t, b, s, o)); err != nil {
		t.Fatal(err)
	}
	want := "GET /paypal" + capturesPath + o.TransactionID
	if len(queryPaths) != 1 || queryPaths[0] != want {
		t.Fatalf("query endpoint saw %v, want [%s]", queryPaths, want)
	}
	for _, p := range apiPaths {
		if p == want {
			t.Fatalf("api_base served the capture query: %v", apiPaths)
		}
	}
	if len(apiPaths) != 2 || apiPaths[0] != "POST /paypal"+tokenPath || apiPaths[1] != "POST /paypal"+verifyPath {
		t.Fatalf("api_base saw %v, want the token and the verify call", apiPaths)
	}
}

func TestQueryOutage(t *testing.T) {
	s := loadSim(t)
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+tokenPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})
	})
	mux.HandleFunc("GET "+capturesPath+"{id}", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b, err := config{webhookID: s.webhookID, mode: VerifyAPI, apiBase: srv.URL, clientID: "id", secret: []byte("secret")}.build()
	if err != nil {
		t.Fatal(err)
	}
	n := &notification.Notification{TransactionID: "2GG279541U471931P", Status: notification.StatusPaid,
		Raw: map[string]any{"event_type": "PAYMENT.CAPTURE.COMPLETED"}}
	_, err = b.Querier.QueryOrder(context.Background(), n)
	wantCode(t, err, reason.QueryUnavailable)
	if calls.Load() != 1 {
		t.Fatalf("%d capture calls", calls.Load())
	}
}

func TestQueryOrderEvent(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+tokenPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})
	})
	mux.HandleFunc("GET "+ordersPath+"5O190127TN364715T", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":"5O190127TN364715T","status":"APPROVED","purchase_units":[{"custom_id":"SHOP-9","amount":{"currency_code":"TWD","value":"30"}}]}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b, err := config{webhookID: "WH1", apiBase: srv.URL, clientID: "id", secret: []byte("secret")}.build()
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseEvent([]byte(`{"id":"WH-3","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"5O190127TN364715T",` +
		`"purchase_units":[{"custom_id":"SHOP-9","amount":{"currency_code":"TWD","value":"30"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Querier.QueryOrder(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != notification.StatusPending || res.Amount != 3000 || res.OutTradeNo != "SHOP-9" {
		t.Fatalf("order query %+v", res)
	}
	if err := pipeline.CompareQuery(n, res); err != nil {
		t.Fatal(err)
	}
}

// TestQueryNotQueryable: an event that names no capture or order is passed
// as skipped, not refused, and costs no call to PayPal.
func TestQueryNotQueryable(t *testing.T) {
	tr := &nowhere{}
	b, err := config{webhookID: "WH1", clientID: "id", secret: []byte("secret"), client: &http.Client{Transport: tr}}.build()
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseEvent([]byte(loadVectors(t)["offline_sandbox_billing_plan_created"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Querier.QueryOrder(context.Background(), n); !errors.Is(err, provider.ErrNotQueryable) {
		t.Fatalf("BILLING.PLAN.CREATED: %v, want provider.ErrNotQueryable", err)
	}
	if tr.calls.Load() != 0 {
		t.Fatalf("%d calls to PayPal for an event with nothing to query", tr.calls.Load())
	}
}
