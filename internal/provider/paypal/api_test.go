package paypal

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

// apiProvider is the provider the sandbox's Settings describe, built
// through the option table, talking to srv.
func apiProvider(t *testing.T, s *sim, srv *httptest.Server, now func() time.Time) provider.Built {
	t.Helper()
	return resolveBuild(t, s.Settings(srv.URL), provider.Settings{Now: now})
}

func TestAPIModeVerifiesSandbox(t *testing.T) {
	s := loadSim(t)
	srv := sandboxServer(t, s, sandbox.NewOrderBook())
	b := apiProvider(t, s, srv, nil)
	o := newOrder(t, s, 4200, "USD")
	v, err := b.Provider.VerifyNotify(notify(t, s, o, ""))
	if err != nil {
		t.Fatal(err)
	}
	if v.Notification.Amount != 4200 || v.Notification.EventID != o.EventID || v.Nonce == "" {
		t.Fatalf("verified %+v", v)
	}
	for _, f := range sandboxTamper {
		_, err := b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 4200, "USD"), f))
		if reason.CodeOf(err, "") != reason.BadSignature {
			t.Errorf("tamper %s: %v, want bad_signature", f, err)
		}
	}
}

// TestTokenReuse: twenty notifications, one token request; and twenty at
// once on a fresh provider, still one.
func TestTokenReuse(t *testing.T) {
	s := loadSim(t)
	srv := sandboxServer(t, s, sandbox.NewOrderBook())
	b := apiProvider(t, s, srv, nil)
	before := s.tokens.issued.Load()
	for i := 0; i < 20; i++ {
		if _, err := b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), "")); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.tokens.issued.Load() - before; got != 1 {
		t.Fatalf("%d token requests for 20 notifications, want 1", got)
	}

	b = apiProvider(t, s, srv, nil)
	before = s.tokens.issued.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		req := notify(t, s, newOrder(t, s, 100, "USD"), "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Provider.VerifyNotify(req)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.tokens.issued.Load() - before; got != 1 {
		t.Fatalf("%d token requests for 20 concurrent notifications, want 1", got)
	}
}

// TestTokenRefreshedWhenExpired: the cached token is replaced once its
// expires_in (less a margin) has passed, not before.
func TestTokenRefreshedWhenExpired(t *testing.T) {
	s := loadSim(t)
	srv := sandboxServer(t, s, sandbox.NewOrderBook())
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	b := apiProvider(t, s, srv, now)
	before := s.tokens.issued.Load()
	verify := func() {
		t.Helper()
		if _, err := b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), "")); err != nil {
			t.Fatal(err)
		}
	}
	verify()
	offset.Store(int64(tokenLife - 2*tokenMargin))
	verify()
	if got := s.tokens.issued.Load() - before; got != 1 {
		t.Fatalf("%d token requests before expiry, want 1", got)
	}
	offset.Store(int64(tokenLife))
	verify()
	if got := s.tokens.issued.Load() - before; got != 2 {
		t.Fatalf("%d token requests after expiry, want 2", got)
	}
}

// TestRevokedTokenRetriedOnce: a 401 from the verify API drops the token
// and the call is made again with a fresh one.
func TestRevokedTokenRetriedOnce(t *testing.T) {
	s := loadSim(t)
	srv := sandboxServer(t, s, sandbox.NewOrderBook())
	b := apiProvider(t, s, srv, nil)
	if _, err := b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), "")); err != nil {
		t.Fatal(err)
	}
	s.tokens.mu.Lock()
	clear(s.tokens.tokens) // PayPal revoked every token
	s.tokens.mu.Unlock()
	before := s.tokens.issued.Load()
	if _, err := b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), "")); err != nil {
		t.Fatal(err)
	}
	if got := s.tokens.issued.Load() - before; got != 1 {
		t.Fatalf("%d token requests after revocation, want 1", got)
	}
}

// fakeAPI answers the token call and hands verify calls to verify.
func fakeAPI(t *testing.T, verify http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var verifies atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+tokenPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})
	})
	mux.HandleFunc("POST "+verifyPath, func(w http.ResponseWriter, r *http.Request) {
		verifies.Add(1)
		verify(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &verifies
}

func fakeAPIProvider(t *testing.T, s *sim, base string) provider.Provider {
	t.Helper()
	b, err := config{webhookID: s.webhookID, mode: VerifyAPI, apiBase: base, clientID: "id", secret: []byte("secret"),
		client: provider.NewHTTPClient(2 * time.Second)}.build()
	if err != nil {
		t.Fatal(err)
	}
	return b.Provider
}

// TestAPIOutageIsQueryUnavailable: a 5xx, an answer without a verdict, a
// redirect (never followed) and an unreachable API are all retryable.
func TestAPIOutageIsQueryUnavailable(t *testing.T) {
	s := loadSim(t)
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	defer target.Close()
	cases := map[string]http.HandlerFunc{
		"500":        func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
		"503":        func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) },
		"429":        func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) },
		"no verdict": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"x": "y"}) },
		"not JSON":   func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) },
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+verifyPath, http.StatusTemporaryRedirect)
		},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			srv, verifies := fakeAPI(t, h)
			_, err := fakeAPIProvider(t, s, srv.URL).VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), ""))
			wantCode(t, err, reason.QueryUnavailable)
			if verifies.Load() != 1 {
				t.Fatalf("%d verify calls, want 1", verifies.Load())
			}
		})
	}
	if followed.Load() != 0 {
		t.Fatal("a redirect was followed")
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err := fakeAPIProvider(t, s, dead.URL).VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), ""))
	wantCode(t, err, reason.QueryUnavailable)
}

func TestAPIVerdicts(t *testing.T) {
	s := loadSim(t)
	for name, c := range map[string]struct {
		h    http.HandlerFunc
		want reason.Code
	}{
		"FAILURE": {func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]string{"verification_status": "FAILURE"})
		}, reason.BadSignature},
		"400": {func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]string{"name": "VALIDATION_ERROR"})
		}, reason.BadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := fakeAPI(t, c.h)
			_, err := fakeAPIProvider(t, s, srv.URL).VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), ""))
			wantCode(t, err, c.want)
		})
	}
}

// TestAPIRefusesLocallyFirst: a wrong algorithm, a foreign cert URL or a
// malformed event never reaches PayPal's API.
func TestAPIRefusesLocallyFirst(t *testing.T) {
	s := loadSim(t)
	srv, verifies := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"verification_status": "SUCCESS"})
	})
	p := fakeAPIProvider(t, s, srv.URL)
	for _, f := range []string{"auth_algo", "cert_url"} {
		_, err := p.VerifyNotify(notify(t, s, newOrder(t, s, 100, "USD"), f))
		wantCode(t, err, reason.BadSignature)
	}
	req := notify(t, s, newOrder(t, s, 100, "USD"), "")
	req.Body = []byte(`[1,2]`)
	_, err := p.VerifyNotify(req)
	wantCode(t, err, reason.Malformed)
	if verifies.Load() != 0 {
		t.Fatalf("%d verify calls for locally refused deliveries", verifies.Load())
	}
}

// TestAPIEmbedsRawBody: the event goes into verify-webhook-signature byte
// for byte (whitespace, key order, "<&>" and escapes untouched), and the
// sandbox, which checks the CRC over what it received, says SUCCESS.
func TestAPIEmbedsRawBody(t *testing.T) {
	s := loadSim(t)
	o := newOrder(t, s, 1999, "USD")
	body := []byte("{ \"id\" : \"" + o.EventID + "\",\n\t\"event_type\":\"PAYMENT.CAPTURE.COMPLETED\", \"summary\":\"<b>&amp;\\u00e9 1.0\",\n" +
		"\"resource\":{\"id\":\"" + o.TransactionID + "\",\"amount\":{\"value\":\"19.99\",\"currency_code\":\"USD\"},\"custom_id\":\"" + o.OutTradeNo + "\"} }")
	req := notify(t, s, o, "")
	resign(t, s, req, body)

	var got atomic.Value
	sandboxMux := http.NewServeMux()
	s.Mount(sandboxMux, sandbox.NewOrderBook())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/paypal"+verifyPath {
			b, _ := io.ReadAll(r.Body)
			var in verifyRequestIn
			_ = json.Unmarshal(b, &in)
			got.Store([]byte(in.WebhookEvent))
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		sandboxMux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	b := apiProvider(t, s, srv, nil)
	v, err := b.Provider.VerifyNotify(req)
	if err != nil {
		t.Fatal(err)
	}
	if sent, _ := got.Load().([]byte); !bytes.Equal(sent, body) {
		t.Fatalf("webhook_event sent as\n%s\nwant the raw body\n%s", sent, body)
	}
	if v.Notification.Amount != 1999 {
		t.Fatalf("amount %d", v.Notification.Amount)
	}
}

// resign replaces req's body and signs it with the sandbox's key, as PayPal
// would have.
func resign(t *testing.T, s *sim, req *provider.Request, body []byte) {
	t.Helper()
	sum := sha256.Sum256(SignedContent(req.Header.Get(HeaderTransmissionID), req.Header.Get(HeaderTransmissionTime), s.webhookID, body))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	req.Body = body
	req.Header.Set(HeaderTransmissionSig, base64.StdEncoding.EncodeToString(sig))
}
