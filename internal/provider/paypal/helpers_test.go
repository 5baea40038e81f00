package paypal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

// keysDir is one sandbox key directory for the whole test binary: RSA key
// generation is the slow part of every test here.
var keysDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paypal-keys-")
	if err != nil {
		panic(err)
	}
	if err := writeKeys(dir); err != nil {
		panic(err)
	}
	keysDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeKeys(dir string) error {
	files, err := generateKeys()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// loadSim loads the test binary's sandbox.
func loadSim(t testing.TB) *sim {
	t.Helper()
	sb, err := loadSandbox(sandbox.Dir(keysDir), provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sb.(*sim)
}

// newOrder is a prepared sandbox order.
func newOrder(t testing.TB, s *sim, amount int64, currency string) *sandbox.Order {
	t.Helper()
	o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(time.Now()), Amount: amount, Currency: currency}
	if err := s.Prepare(o, time.Now()); err != nil {
		t.Fatal(err)
	}
	return o
}

// notify is a signed delivery of o, as a provider.Request.
func notify(t testing.TB, s *sim, o *sandbox.Order, tamper string) *provider.Request {
	t.Helper()
	now := time.Now()
	m, err := s.BuildNotify(o, tamper, now)
	if err != nil {
		t.Fatal(err)
	}
	return &provider.Request{Method: m.Method, Path: "/paypal", Header: m.Header, Body: m.Body, Now: now}
}

// pinnedProvider verifies offline with the sandbox's certificate pinned.
func pinnedProvider(t testing.TB, s *sim) *Provider {
	t.Helper()
	certPEM, err := s.dir.Read(fileCert)
	if err != nil {
		t.Fatal(err)
	}
	b, err := config{webhookID: s.webhookID, mode: VerifyOffline, certPEM: certPEM}.build()
	if err != nil {
		t.Fatal(err)
	}
	return b.Provider.(*Provider)
}

// sandboxServer serves the sandbox's API on a test server.
func sandboxServer(t testing.TB, s *sim, book *sandbox.OrderBook) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	s.Mount(mux, book)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// resolveBuild builds the provider from the spec's option table, as the
// glue does: settings as `payguard sim keys` prints them.
func resolveBuild(t testing.TB, settings []provider.Setting, set provider.Settings) provider.Built {
	t.Helper()
	built, err := tryResolveBuild(settings, set)
	if err != nil {
		t.Fatal(err)
	}
	return built
}

func tryResolveBuild(settings []provider.Setting, set provider.Settings) (provider.Built, error) {
	spec, ok := provider.Lookup(Name)
	if !ok {
		return provider.Built{}, errors.New("paypal is not registered")
	}
	v := provider.Values{}
	for _, s := range settings {
		if s.Query && s.Name == "endpoint" {
			set.QueryEndpoint = s.Args[0]
			continue
		}
		opt, file, ok := spec.Option(s.Name, s.Query)
		if !ok {
			return provider.Built{}, errors.New("unknown option " + s.Name)
		}
		key := opt.JSONKey()
		if file {
			key = opt.FileKey()
		}
		v[key] = s.Args
	}
	env, err := spec.Resolve(v, nil, set)
	if err != nil {
		return provider.Built{}, err
	}
	return spec.Build(env)
}

// wantCode fails unless err carries the reason code.
func wantCode(t testing.TB, err error, code reason.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s", code)
	}
	if got := reason.CodeOf(err, ""); got != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// rewired is an HTTPS client that reaches srv whatever host a URL names,
// trusting srv's certificate, and counts the requests it sends. It keeps
// payguard's no-redirect policy.
func rewired(srv *httptest.Server, count *atomic.Int64) *http.Client {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		count.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	tr.DialTLSContext = nil
	tr.TLSClientConfig = &tls.Config{RootCAs: srvPool(srv), ServerName: "example.com"}
	tr.DisableKeepAlives = true
	c := provider.NewHTTPClient(5 * time.Second)
	c.Transport = tr
	return c
}

func srvPool(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// nowhere is a transport that refuses every request and counts them: the
// proof that a URL was never contacted.
type nowhere struct{ calls atomic.Int64 }

func (n *nowhere) RoundTrip(*http.Request) (*http.Response, error) {
	n.calls.Add(1)
	return nil, errors.New("this test allows no outgoing request")
}

func sandboxDir(p string) sandbox.Dir { return sandbox.Dir(p) }

func isNoKeys(err error) bool { return errors.Is(err, sandbox.ErrNoKeys) }
