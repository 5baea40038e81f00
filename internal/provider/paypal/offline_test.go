package paypal

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

func TestOfflinePinnedVerifiesSandbox(t *testing.T) {
	s := loadSim(t)
	p := pinnedProvider(t, s)
	o := newOrder(t, s, 1234, "USD")
	req := notify(t, s, o, "")
	v, err := p.VerifyNotify(req)
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.EventID != o.EventID || n.TransactionID != o.TransactionID || n.OutTradeNo != o.OutTradeNo ||
		n.Amount != 1234 || n.Currency != "USD" || n.Status != notification.StatusPaid || n.Provider != Name {
		t.Fatalf("notification %+v for order %+v", n, o)
	}
	if v.Nonce != req.Header.Get(HeaderTransmissionID) || v.Nonce == "" {
		t.Fatalf("nonce %q, want the transmission id %q", v.Nonce, req.Header.Get(HeaderTransmissionID))
	}
	ts, _ := time.Parse(time.RFC3339, req.Header.Get(HeaderTransmissionTime))
	if !v.Timestamp.Equal(ts) || !v.EventTime.IsZero() {
		t.Fatalf("timestamp %v event time %v: want the transmission time and no event time", v.Timestamp, v.EventTime)
	}
}

// TestTransmissionIDIsNonce: two deliveries of one event carry the same
// event id and their own transmission ids, each the delivery's nonce.
func TestTransmissionIDIsNonce(t *testing.T) {
	s := loadSim(t)
	p := pinnedProvider(t, s)
	o := newOrder(t, s, 500, "EUR")
	a, err := p.VerifyNotify(notify(t, s, o, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.VerifyNotify(notify(t, s, o, ""))
	if err != nil {
		t.Fatal(err)
	}
	if a.Notification.EventID != b.Notification.EventID || a.Nonce == b.Nonce {
		t.Fatalf("event ids %q %q, nonces %q %q", a.Notification.EventID, b.Notification.EventID, a.Nonce, b.Nonce)
	}
}

func TestOfflineTamperRefused(t *testing.T) {
	s := loadSim(t)
	p := pinnedProvider(t, s)
	for _, f := range sandboxTamper {
		t.Run(f, func(t *testing.T) {
			_, err := p.VerifyNotify(notify(t, s, newOrder(t, s, 1000, "USD"), f))
			wantCode(t, err, reason.BadSignature)
		})
	}
}

// TestCRCOverReserialisedBodyFails: the shop-side mistake of verifying a
// parsed-and-re-encoded body. Same event, other bytes, other CRC.
func TestCRCOverReserialisedBodyFails(t *testing.T) {
	s := loadSim(t)
	p := pinnedProvider(t, s)
	req := notify(t, s, newOrder(t, s, 1000, "USD"), "")
	var v any
	if err := json.Unmarshal(req.Body, &v); err != nil {
		t.Fatal(err)
	}
	re, _ := json.Marshal(v)
	if string(re) == string(req.Body) {
		t.Fatal("re-encoding left the body unchanged; the test proves nothing")
	}
	if _, err := p.VerifyNotify(req); err != nil {
		t.Fatalf("the original bytes must verify: %v", err)
	}
	req.Body = re
	_, err := p.VerifyNotify(req)
	wantCode(t, err, reason.BadSignature)
}

// TestForeignCertURLNeverContacted: a cert URL off PayPal's API hosts, or
// of any other shape, is bad_signature before any request is made.
func TestForeignCertURLNeverContacted(t *testing.T) {
	s := loadSim(t)
	tr := &nowhere{}
	b, err := config{webhookID: s.webhookID, mode: VerifyOffline, client: &http.Client{Transport: tr}}.build()
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{
		"https://certs.attacker.example/v1/notifications/certs/CERT-1",
		"http://api.paypal.com/v1/notifications/certs/CERT-1",
		"https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
		"https://user@api.paypal.com/v1/notifications/certs/CERT-1",
		"https://api.paypal.com.attacker.example/v1/notifications/certs/CERT-1",
		"https://attacker.example/api.paypal.com/v1/notifications/certs/CERT-1",
		"https://api.paypal.com/v1/notifications/certs/CERT-1?u=https://attacker.example",
		"https://api.paypal.com/v1/notifications/certs/CERT-1#x",
		"https://api.paypal.com/v1/notifications/certs/../../../redirect",
		"https://api.paypal.com/v1/notifications/certs/%2e%2e/x",
		"https://api.paypal.com/v1/notifications/certs/",
		"https://api.paypal.com/v1/oauth2/token",
		"https://API.PAYPAL.COM/v1/notifications/certs/CERT-1",
		"https://169.254.169.254/v1/notifications/certs/CERT-1",
		"https://[::1]/v1/notifications/certs/CERT-1",
		"//api.paypal.com/v1/notifications/certs/CERT-1",
		"file:///etc/passwd",
	}
	for _, u := range urls {
		req := notify(t, s, newOrder(t, s, 1000, "USD"), "")
		req.Header.Set(HeaderCertURL, u)
		_, err := b.Provider.VerifyNotify(req)
		wantCode(t, err, reason.BadSignature)
	}
	_, err = b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 1000, "USD"), "cert_url"))
	wantCode(t, err, reason.BadSignature)
	if n := tr.calls.Load(); n != 0 {
		t.Fatalf("%d outgoing requests for foreign cert URLs, want none", n)
	}
}

// certServer serves PEM at every /v1/notifications/certs/ path and counts.
func certServer(t *testing.T, pemBytes func() []byte, status int) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !strings.HasPrefix(r.URL.Path, certPathPrefix) || r.Host != sandboxHost {
			t.Errorf("fetched %s%s", r.Host, r.URL.Path)
		}
		if status == http.StatusTemporaryRedirect {
			http.Redirect(w, r, "https://attacker.example/cert", status)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write(pemBytes())
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func sandboxRoots(t *testing.T, s *sim) *x509.CertPool {
	b, err := s.dir.Read(fileCA)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseCertPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(ca[0])
	return p
}

// TestFetchedCertificateCachedOnce: concurrent and later deliveries share
// one download of the certificate.
func TestFetchedCertificateCachedOnce(t *testing.T) {
	s := loadSim(t)
	certPEM, _ := s.dir.Read(fileCert)
	srv, hits := certServer(t, func() []byte { return certPEM }, http.StatusOK)
	var dials atomic.Int64
	b, err := config{webhookID: s.webhookID, mode: VerifyOffline, client: rewired(srv, &dials), roots: sandboxRoots(t, s)}.build()
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]chan error, 20)
	var wg sync.WaitGroup
	for i := range reqs {
		reqs[i] = make(chan error, 1)
		req := notify(t, s, newOrder(t, s, 1000, "USD"), "")
		wg.Add(1)
		go func(ch chan error) {
			defer wg.Done()
			_, err := b.Provider.VerifyNotify(req)
			ch <- err
		}(reqs[i])
	}
	wg.Wait()
	for _, ch := range reqs {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("certificate fetched %d times for 20 deliveries, want 1", hits.Load())
	}
}

func TestFetchedCertificateFailures(t *testing.T) {
	s := loadSim(t)
	certPEM, _ := s.dir.Read(fileCert)
	sbRoots := sandboxRoots(t, s)
	wrongName, wrongNameRoots := issueCert(t, &s.key.PublicKey, "messageverificationcerts.attacker.example")
	cases := []struct {
		name   string
		pem    []byte
		status int
		roots  *x509.CertPool
		want   reason.Code
	}{
		{"not found", nil, http.StatusNotFound, sbRoots, reason.UnknownKey},
		{"server error", nil, http.StatusBadGateway, sbRoots, reason.QueryUnavailable},
		{"redirect", nil, http.StatusTemporaryRedirect, sbRoots, reason.QueryUnavailable},
		{"not PEM", []byte("hello"), http.StatusOK, sbRoots, reason.UnknownKey},
		{"untrusted chain", certPEM, http.StatusOK, x509.NewCertPool(), reason.BadSignature},
		{"wrong name", wrongName, http.StatusOK, wrongNameRoots, reason.BadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, hits := certServer(t, func() []byte { return c.pem }, c.status)
			var dials atomic.Int64
			b, err := config{webhookID: s.webhookID, mode: VerifyOffline, client: rewired(srv, &dials), roots: c.roots}.build()
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 1000, "USD"), ""))
			wantCode(t, err, c.want)
			if hits.Load() != 1 {
				t.Fatalf("%d requests, want exactly the one to PayPal's host", hits.Load())
			}
		})
	}
	// The same certificate under the right name verifies: the name check
	// was what refused it above.
	rightName, rightRoots := issueCert(t, &s.key.PublicKey, sandboxName)
	srv, _ := certServer(t, func() []byte { return rightName }, http.StatusOK)
	var dials atomic.Int64
	b, _ := config{webhookID: s.webhookID, mode: VerifyOffline, client: rewired(srv, &dials), roots: rightRoots}.build()
	if _, err := b.Provider.VerifyNotify(notify(t, s, newOrder(t, s, 1000, "USD"), "")); err != nil {
		t.Fatal(err)
	}
}

// issueCert makes a fresh CA and a certificate for pub under dnsName; it
// returns the certificate's PEM and a pool holding the CA.
func issueCert(t *testing.T, pub *rsa.PublicKey, dnsName string) ([]byte, *x509.CertPool) {
	t.Helper()
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{SerialNumber: randSerial(), Subject: pkixName("test CA"), NotBefore: now, NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{SerialNumber: randSerial(), Subject: pkixName(dnsName), DNSNames: []string{dnsName},
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pemCert(der), pool
}
