package appstore

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

// simulated is a sandbox with its query API served, and the sidecar's
// provider and querier for it.
type simulated struct {
	s    *appStoreSandbox
	book *sandbox.OrderBook
	srv  *httptest.Server
	p    provider.Provider
	q    *Querier
}

func newSimulated(t *testing.T) *simulated {
	t.Helper()
	s := loadTestSandbox(t, providertest.KeyDir(t, Name), nil)
	book, srv := providertest.Serve(t, s)
	built := sidecar(t, s, srv.URL)
	return &simulated{s: s, book: book, srv: srv, p: built.Provider, q: built.Querier.(*Querier)}
}

// notify registers o with the sandbox and returns the verified
// notification the sidecar would query about.
func (sim *simulated) notify(t *testing.T, o *sandbox.Order) *notification.Notification {
	t.Helper()
	now := time.Now()
	msg, err := sim.s.BuildNotify(o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	sim.book.Put(*o)
	v, err := sim.p.VerifyNotify(&provider.Request{Method: msg.Method, Body: msg.Body, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return &v.Notification
}

func TestQueryConfirms(t *testing.T) {
	sim := newSimulated(t)
	n := sim.notify(t, &sandbox.Order{Provider: Name, OutTradeNo: "ORDER-1", Amount: 1299})
	res, err := sim.q.QueryOrder(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != notification.StatusPaid || res.Amount != 1299 || res.Currency != "USD" ||
		res.OutTradeNo != "ORDER-1" || res.TransactionID != n.TransactionID || res.Merchant != SandboxBundleID {
		t.Fatalf("query result %+v", res)
	}
}

func TestQueryReportsWhatAppleSays(t *testing.T) {
	sim := newSimulated(t)
	// The sandbox answers another price than the notification's: the
	// pipeline's comparison refuses the notification on it.
	n := sim.notify(t, &sandbox.Order{Provider: Name, OutTradeNo: "ORDER-2", Amount: 1299, QueryAmount: 99})
	res, err := sim.q.QueryOrder(context.Background(), n)
	if err != nil || res.Amount != 99 {
		t.Fatalf("query amount: %+v, %v", res, err)
	}
	// A refund shows as a transaction with a revocationDate.
	n = sim.notify(t, &sandbox.Order{Provider: Name, OutTradeNo: "ORDER-3", Amount: 500, Status: "REFUND"})
	res, err = sim.q.QueryOrder(context.Background(), n)
	if err != nil || res.Status != notification.StatusRefunded || res.Amount != 500 {
		t.Fatalf("refund query: %+v, %v", res, err)
	}
	// An unknown transaction is Apple's authoritative no.
	unknown := *n
	unknown.TransactionID = "2000000999999999"
	_, err = sim.q.QueryOrder(context.Background(), &unknown)
	wantCode(t, err, reason.QueryMismatch)
}

func TestQueryOnlyForPaymentsAndRefunds(t *testing.T) {
	sim := newSimulated(t)
	for _, st := range []notification.Status{notification.StatusOther, notification.StatusClosed, notification.StatusFailed} {
		n := &notification.Notification{Provider: Name, Status: st, TransactionID: "2000000123456789"}
		if _, err := sim.q.QueryOrder(context.Background(), n); !errors.Is(err, provider.ErrNotQueryable) {
			t.Errorf("%s: %v, want ErrNotQueryable", st, err)
		}
	}
}

// answering is a querier against a fake App Store that answers with h.
func answering(t *testing.T, h http.HandlerFunc) (*Querier, *fixture) {
	t.Helper()
	f := newFixture(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	q, err := NewQuerier(
		Config{BundleID: testBundle, Environment: EnvProduction, Roots: []*x509.Certificate{f.pki.root}},
		QueryConfig{IssuerID: "issuer-1", KeyID: "KEY1", PrivateKey: newKey(t), Endpoint: srv.URL, HTTPClient: provider.NewHTTPClient(2 * time.Second)},
	)
	if err != nil {
		t.Fatal(err)
	}
	return q, f
}

func paidNotification() *notification.Notification {
	return &notification.Notification{Provider: Name, Status: notification.StatusPaid, TransactionID: "2000000123456789", Amount: 99, Currency: "USD"}
}

func TestQueryFailures(t *testing.T) {
	stranger := newFixture(t)
	for name, c := range map[string]struct {
		answer func(f *fixture) (int, string)
		code   reason.Code
	}{
		"500":              {func(*fixture) (int, string) { return 500, `{}` }, reason.QueryUnavailable},
		"401":              {func(*fixture) (int, string) { return 401, `` }, reason.QueryUnavailable},
		"429":              {func(*fixture) (int, string) { return 429, `{"errorCode":4290000}` }, reason.QueryUnavailable},
		"404 without code": {func(*fixture) (int, string) { return 404, `not found` }, reason.QueryUnavailable},
		"404 not found": {func(*fixture) (int, string) {
			return 404, `{"errorCode":4040010,"errorMessage":"Transaction id not found."}`
		}, reason.QueryMismatch},
		"not JSON":           {func(*fixture) (int, string) { return 200, `<html>` }, reason.QueryUnavailable},
		"no signed info":     {func(*fixture) (int, string) { return 200, `{}` }, reason.QueryUnavailable},
		"unsigned info":      {func(f *fixture) (int, string) { return 200, signedInfo(mustUnsigned(t, f, f.txn(nil))) }, reason.QueryUnavailable},
		"a stranger's chain": {func(*fixture) (int, string) { return 200, signedInfo(stranger.sign(t, stranger.txn(nil))) }, reason.QueryUnavailable},
		"another bundle": {func(f *fixture) (int, string) {
			return 200, signedInfo(f.sign(t, f.txn(map[string]any{"bundleId": "com.other"})))
		}, reason.QueryUnavailable},
		"the sandbox": {func(f *fixture) (int, string) {
			return 200, signedInfo(f.sign(t, f.txn(map[string]any{"environment": EnvSandbox})))
		}, reason.QueryUnavailable},
		"another transaction": {func(f *fixture) (int, string) {
			return 200, signedInfo(f.sign(t, f.txn(map[string]any{"transactionId": "2000000000000001"})))
		}, reason.QueryMismatch},
		"no price": {func(f *fixture) (int, string) { return 200, signedInfo(f.sign(t, f.txn(map[string]any{"price": nil}))) }, reason.QueryUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			var fx *fixture
			q, f := answering(t, func(w http.ResponseWriter, r *http.Request) {
				status, body := c.answer(fx)
				w.WriteHeader(status)
				_, _ = w.Write([]byte(body))
			})
			fx = f
			_, err := q.QueryOrder(context.Background(), paidNotification())
			wantCode(t, err, c.code)
		})
	}
	t.Run("genuine", func(t *testing.T) {
		var fx *fixture
		q, f := answering(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(signedInfo(fx.sign(t, fx.txn(nil)))))
		})
		fx = f
		if res, err := q.QueryOrder(context.Background(), paidNotification()); err != nil || res.Amount != 99 {
			t.Fatalf("%+v, %v", res, err)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		q, _ := answering(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		})
		_, err := q.QueryOrder(context.Background(), paidNotification())
		wantCode(t, err, reason.QueryUnavailable)
	})
	t.Run("unreachable", func(t *testing.T) {
		q, _ := answering(t, func(http.ResponseWriter, *http.Request) {})
		q.endpoint = "http://127.0.0.1:1"
		_, err := q.QueryOrder(context.Background(), paidNotification())
		wantCode(t, err, reason.QueryUnavailable)
	})
}

func signedInfo(jws string) string {
	b, _ := json.Marshal(map[string]string{"signedTransactionInfo": jws})
	return string(b)
}

// The bearer token is Apple's: ES256 by the configured key, kid key_id,
// iss issuer_id, aud appstoreconnect-v1, bid the bundle, five minutes.
func TestQueryToken(t *testing.T) {
	var auth, path string
	var fx *fixture
	q, f := answering(t, func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.URL.Path
		_, _ = w.Write([]byte(signedInfo(fx.sign(t, fx.txn(nil)))))
	})
	fx = f
	now := time.Unix(1_800_000_000, 0)
	q.now = func() time.Time { return now }
	// The answer is checked at its own signedDate; the query clock only
	// stamps the token.
	if _, err := q.QueryOrder(context.Background(), paidNotification()); err != nil {
		t.Fatal(err)
	}
	if path != "/inApps/v1/transactions/2000000123456789" {
		t.Fatalf("path %s", path)
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		t.Fatalf("authorization %q", auth)
	}
	hb, _ := b64url.DecodeString(parts[0])
	cb, _ := b64url.DecodeString(parts[1])
	sig, _ := b64url.DecodeString(parts[2])
	var h map[string]string
	var c tokenClaims
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		t.Fatalf("token %s", tok)
	}
	if h["alg"] != "ES256" || h["kid"] != "KEY1" || h["typ"] != "JWT" {
		t.Fatalf("header %v", h)
	}
	want := tokenClaims{Iss: "issuer-1", Iat: now.Unix(), Exp: now.Unix() + 300, Aud: "appstoreconnect-v1", Bid: testBundle}
	if c != want {
		t.Fatalf("claims %+v, want %+v", c, want)
	}
	if !verifyES256(&q.key.PublicKey, parts[0]+"."+parts[1], sig) {
		t.Fatal("token signature does not verify with the configured key")
	}
}

func TestQueryEndpoints(t *testing.T) {
	key := newKey(t)
	for env, want := range map[string]string{EnvProduction: ProductionAPI, EnvSandbox: SandboxAPI} {
		q, err := NewQuerier(Config{BundleID: testBundle, Environment: env}, QueryConfig{IssuerID: "i", KeyID: "k", PrivateKey: key})
		if err != nil || q.endpoint != want {
			t.Fatalf("%s: %v %v", env, q, err)
		}
	}
	q, err := NewQuerier(Config{BundleID: testBundle, Environment: EnvSandbox}, QueryConfig{IssuerID: "i", KeyID: "k", PrivateKey: key, Endpoint: "http://127.0.0.1:9000/appstore/"})
	if err != nil || q.endpoint != "http://127.0.0.1:9000/appstore" {
		t.Fatalf("override: %v %v", q, err)
	}
	for _, bad := range []string{"ftp://x", "/relative", "http://", "http://h/?q=1"} {
		if _, err := NewQuerier(Config{BundleID: testBundle, Environment: EnvSandbox}, QueryConfig{IssuerID: "i", KeyID: "k", PrivateKey: key, Endpoint: bad}); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
}
