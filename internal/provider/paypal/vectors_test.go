package paypal

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// vectorCase is one case of testdata/paypal.json (a copy of
// shared/vectors/paypal.json: a real PayPal sandbox signature from
// PayPal's Java SDK tests).
type vectorCase struct {
	Name          string            `json:"name"`
	Expected      string            `json:"expected"`
	Body          string            `json:"body"`
	CertPEM       string            `json:"cert_pem"`
	IssuerCertPEM string            `json:"issuer_cert_pem"`
	CRC32Decimal  string            `json:"crc32_decimal"`
	SignedContent string            `json:"signed_content"`
	Headers       map[string]string `json:"headers"`
	WebhookID     string            `json:"webhook_id"`
}

func loadVectors(t testing.TB) map[string]vectorCase {
	out := providertest.VectorsByName[vectorCase](t, "paypal.json")
	if len(out) != 3 {
		t.Fatalf("want 3 vector cases, got %d", len(out))
	}
	return out
}

// vectorCertURL replaces the vector's placeholder cert URL
// (/v1/notifications/test, which payguard refuses: see
// TestVectorPlaceholderCertURLRefused) with the shape PayPal's real
// deliveries carry. The cert URL is not part of the signed content.
const vectorCertURL = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"

func vectorRequest(c vectorCase) *provider.Request {
	h := http.Header{}
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	h.Set(HeaderCertURL, vectorCertURL)
	return &provider.Request{Method: http.MethodPost, Header: h, Body: []byte(c.Body)}
}

// vectorTime is the vector's transmission time: its certificate expired
// in 2019 and is checked at the transmission time.
func vectorTime(t testing.TB, c vectorCase) time.Time {
	ts, err := time.Parse(time.RFC3339, c.Headers["PAYPAL-TRANSMISSION-TIME"])
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestVectorSignedContent(t *testing.T) {
	c := loadVectors(t)["offline_sandbox_billing_plan_created"]
	got := SignedContent(c.Headers["PAYPAL-TRANSMISSION-ID"], c.Headers["PAYPAL-TRANSMISSION-TIME"], c.WebhookID, []byte(c.Body))
	if string(got) != c.SignedContent {
		t.Fatalf("signed content\n got %s\nwant %s", got, c.SignedContent)
	}
	if !strings.HasSuffix(string(got), "|"+c.CRC32Decimal) {
		t.Fatalf("CRC is not %s as an unsigned decimal", c.CRC32Decimal)
	}
}

// TestVectorsPinned runs the three published cases with the vector's
// certificate pinned: the genuine one verifies, the wrong webhook id and
// the re-serialised body do not.
func TestVectorsPinned(t *testing.T) {
	for name, c := range loadVectors(t) {
		t.Run(name, func(t *testing.T) {
			b, err := config{webhookID: c.WebhookID, mode: VerifyOffline, certPEM: []byte(c.CertPEM)}.build()
			if err != nil {
				t.Fatal(err)
			}
			v, err := b.Provider.VerifyNotify(vectorRequest(c))
			if !strings.HasPrefix(c.Expected, "valid") {
				wantCode(t, err, reason.BadSignature)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := v.Notification
			if n.EventID != "WH-2MW4820926242972J-6SG447389E205703U" || n.Status != notification.StatusOther || n.Type != "billing.plan.created" {
				t.Fatalf("notification %+v", n)
			}
			if n.TransactionID != "P-2U911356NH683973BEDIWKUY" || n.Amount != 0 {
				t.Fatalf("other events carry no payment: %+v", n)
			}
			if v.Nonce != c.Headers["PAYPAL-TRANSMISSION-ID"] || !v.Timestamp.Equal(vectorTime(t, c)) {
				t.Fatalf("nonce %q timestamp %v: want the transmission id and time", v.Nonce, v.Timestamp)
			}
		})
	}
}

// TestVectorFetchedCertificate fetches the vector's certificate and its
// issuer from a cert URL on PayPal's sandbox host (served by a test
// server), chain-checks it with the DigiCert intermediate as the trust
// anchor at the transmission time, and checks the name: the sandbox
// certificate is refused for a live-host URL.
func TestVectorFetchedCertificate(t *testing.T) {
	c := loadVectors(t)["offline_sandbox_billing_plan_created"]
	var fetched atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, certPathPrefix) {
			http.NotFound(w, r)
			return
		}
		fetched.Add(1)
		_, _ = w.Write([]byte(c.CertPEM + "\n" + c.IssuerCertPEM))
	}))
	defer srv.Close()
	issuer, err := parseCertPEM([]byte(c.IssuerCertPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(issuer[0])
	var dials atomic.Int64
	b, err := config{webhookID: c.WebhookID, mode: VerifyOffline, client: rewired(srv, &dials), roots: roots,
		now: func() time.Time { return vectorTime(t, c) }}.build()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := b.Provider.VerifyNotify(vectorRequest(c)); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if fetched.Load() != 1 {
		t.Fatalf("certificate fetched %d times, want once (cached by URL)", fetched.Load())
	}
	live := vectorRequest(c)
	live.Header.Set(HeaderCertURL, strings.Replace(vectorCertURL, "api.sandbox.paypal.com", "api.paypal.com", 1))
	_, err = b.Provider.VerifyNotify(live)
	wantCode(t, err, reason.BadSignature)

	// Without the injected anchor (the system roots), the expired chain
	// does not verify either way: the anchor is what made it pass.
	b2, _ := config{webhookID: c.WebhookID, mode: VerifyOffline, client: rewired(srv, &dials),
		roots: x509.NewCertPool(), now: func() time.Time { return vectorTime(t, c) }}.build()
	_, err = b2.Provider.VerifyNotify(vectorRequest(c))
	wantCode(t, err, reason.BadSignature)
}

// TestVectorPlaceholderCertURLRefused: the Java SDK test's cert URL is not
// under /v1/notifications/certs/, so payguard neither fetches it nor
// accepts the delivery, even with a pinned certificate.
func TestVectorPlaceholderCertURLRefused(t *testing.T) {
	c := loadVectors(t)["offline_sandbox_billing_plan_created"]
	b, err := config{webhookID: c.WebhookID, mode: VerifyOffline, certPEM: []byte(c.CertPEM)}.build()
	if err != nil {
		t.Fatal(err)
	}
	req := vectorRequest(c)
	req.Header.Set(HeaderCertURL, c.Headers["PAYPAL-CERT-URL"])
	_, err = b.Provider.VerifyNotify(req)
	wantCode(t, err, reason.BadSignature)
}

// TestVectorReserialisedBodyDiffers makes sure the published re-serialised
// case is what it says: the same event re-encoded by encoding/json, with
// another CRC.
func TestVectorReserialisedBodyDiffers(t *testing.T) {
	vs := loadVectors(t)
	orig, re := vs["offline_sandbox_billing_plan_created"].Body, vs["offline_reserialised_body"].Body
	var v any
	if err := json.Unmarshal([]byte(orig), &v); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(v)
	if string(again) != re || orig == re {
		t.Fatal("the re-serialised vector is not encoding/json's rendering of the original")
	}
}
