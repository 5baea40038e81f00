package pingpp

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

const chargeAnswer = `{"id":"ch_test0000000000000000001","object":"charge","paid":true,"refunded":false,"app":"app_test",` +
	`"order_no":"ORDER1","amount":1234,"amount_refunded":500,"currency":"cny"}`

func paidNotice() *notification.Notification {
	return &notification.Notification{Provider: Name, TransactionID: "ch_test0000000000000000001", OutTradeNo: "ORDER1",
		Amount: 1234, Currency: "CNY", Status: notification.StatusPaid}
}

func newTestQuerier(t *testing.T, h http.HandlerFunc, cfg QueryConfig) *Querier {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg.Endpoint = srv.URL + "/base"
	if cfg.APIKey == nil {
		cfg.APIKey = []byte("sk_test_key")
	}
	cfg.HTTPClient = provider.NewHTTPClient(time.Second)
	q, err := NewQuerier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestQueryConfirms(t *testing.T) {
	var gotPath, gotUser, gotPass string
	q := newTestQuerier(t, func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		gotUser, gotPass, _ = r.BasicAuth()
		_, _ = w.Write([]byte(chargeAnswer))
	}, QueryConfig{})
	res, err := q.QueryOrder(context.Background(), paidNotice())
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/base/v1/charges/ch_test0000000000000000001" || gotUser != "sk_test_key" || gotPass != "" {
		t.Errorf("request %s as %q:%q", gotPath, gotUser, gotPass)
	}
	if res.Status != notification.StatusPaid || res.Amount != 1234 || res.Currency != "CNY" ||
		res.OutTradeNo != "ORDER1" || res.Merchant != "app_test" {
		t.Errorf("%+v", res)
	}
}

func TestQueryRefund(t *testing.T) {
	q := newTestQuerier(t, answer(200, chargeAnswer), QueryConfig{})
	n := paidNotice()
	n.Status, n.Amount, n.RefundAmount = notification.StatusRefunded, 500, 500
	if _, err := q.QueryOrder(context.Background(), n); err != nil {
		t.Fatalf("refund covered by amount_refunded: %v", err)
	}
	n.Amount, n.RefundAmount = 600, 600
	if _, err := q.QueryOrder(context.Background(), n); reason.CodeOf(err, "") != reason.QueryMismatch {
		t.Fatalf("refund beyond amount_refunded: %v", err)
	}
}

func TestQueryUnpaid(t *testing.T) {
	q := newTestQuerier(t, answer(200, strings.Replace(chargeAnswer, `"paid":true`, `"paid":false`, 1)), QueryConfig{})
	res, err := q.QueryOrder(context.Background(), paidNotice())
	if err != nil || res.Status != notification.StatusPending {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestQueryFailures(t *testing.T) {
	redirect := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	}
	for name, c := range map[string]struct {
		h    http.HandlerFunc
		want reason.Code
	}{
		"no such charge":   {answer(404, `{"error":{"type":"invalid_request_error","message":"No such charge"}}`), reason.QueryMismatch},
		"outage":           {answer(500, `oops`), reason.QueryUnavailable},
		"bad key":          {answer(401, `{"error":{}}`), reason.QueryUnavailable},
		"redirect":         {redirect, reason.QueryUnavailable},
		"not json":         {answer(200, `<html>`), reason.QueryUnavailable},
		"duplicate key":    {answer(200, strings.Replace(chargeAnswer, `"paid":true`, `"paid":true,"paid":false`, 1)), reason.QueryUnavailable},
		"another charge":   {answer(200, strings.Replace(chargeAnswer, "ch_test0000000000000000001", "ch_other", 1)), reason.QueryUnavailable},
		"not a charge":     {answer(200, strings.Replace(chargeAnswer, `"object":"charge"`, `"object":"refund"`, 1)), reason.QueryUnavailable},
		"no amount":        {answer(200, strings.Replace(chargeAnswer, `"amount":1234,`, ``, 1)), reason.QueryUnavailable},
		"fraction amount":  {answer(200, strings.Replace(chargeAnswer, `"amount":1234`, `"amount":12.34`, 1)), reason.QueryUnavailable},
		"paid as a string": {answer(200, strings.Replace(chargeAnswer, `"paid":true`, `"paid":"true"`, 1)), reason.QueryUnavailable},
	} {
		q := newTestQuerier(t, c.h, QueryConfig{})
		if _, err := q.QueryOrder(context.Background(), paidNotice()); reason.CodeOf(err, "") != c.want {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
	q := newTestQuerier(t, func(w http.ResponseWriter, r *http.Request) {
		t.Error("an event with nothing to confirm was queried")
	}, QueryConfig{})
	other := paidNotice()
	other.Status = notification.StatusOther
	if _, err := q.QueryOrder(context.Background(), other); !errors.Is(err, provider.ErrNotQueryable) {
		t.Errorf("status other: %v, want ErrNotQueryable", err)
	}
	q = newTestQuerier(t, answer(200, chargeAnswer), QueryConfig{})
	n := paidNotice()
	n.TransactionID = ""
	if _, err := q.QueryOrder(context.Background(), n); reason.CodeOf(err, "") != reason.QueryMismatch {
		t.Errorf("no charge id: %v", err)
	}
}

// With a merchant private key, each request carries Ping++'s request
// signature over the request URI and the timestamp.
func TestQueryRequestSigning(t *testing.T) {
	now := time.Unix(1700000000, 0)
	var sigOK bool
	q := newTestQuerier(t, func(w http.ResponseWriter, r *http.Request) {
		ts := r.Header.Get("Pingplusplus-Request-Timestamp")
		sig, _ := base64.StdEncoding.DecodeString(r.Header.Get("Pingplusplus-Signature"))
		d := sha256.Sum256([]byte(r.URL.RequestURI() + ts))
		sigOK = ts == "1700000000" && rsa.VerifyPKCS1v15(&key(t).PublicKey, crypto.SHA256, d[:], sig) == nil
		_, _ = w.Write([]byte(chargeAnswer))
	}, QueryConfig{PrivateKey: key(t), Now: func() time.Time { return now }})
	if _, err := q.QueryOrder(context.Background(), paidNotice()); err != nil {
		t.Fatal(err)
	}
	if !sigOK {
		t.Fatal("request signature missing or wrong")
	}
}

func TestNewQuerierChecks(t *testing.T) {
	for name, cfg := range map[string]QueryConfig{
		"no key":           {},
		"trailing newline": {APIKey: []byte("sk_live_x\n")},
		"bad scheme":       {APIKey: []byte("k"), Endpoint: "ftp://api.example"},
		"query string":     {APIKey: []byte("k"), Endpoint: "https://api.example/?a=1"},
	} {
		if _, err := NewQuerier(cfg); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	q, err := NewQuerier(QueryConfig{APIKey: []byte("sk_live_secret")})
	if err != nil || q.endpoint != DefaultEndpoint {
		t.Fatalf("%v %v", q, err)
	}
	if strings.Contains(q.String(), "sk_live") {
		t.Error("String shows the key")
	}
}
