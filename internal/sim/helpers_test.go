package sim

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	_ "github.com/payguard/payguard/internal/provider/all"
)

// The sandbox keys are generated once per test binary with WriteKeys (so
// every test also exercises it) and read back with LoadKeys. RSA-2048
// generation costs tenths of a second per key.
var fixture struct {
	once    sync.Once
	dir     string
	snippet string
	keys    []*Provider
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func testKeys(t testing.TB) []*Provider {
	t.Helper()
	fixture.once.Do(func() {
		base, err := os.MkdirTemp("", "payguard-sim-")
		if err != nil {
			fixture.err = err
			return
		}
		fixture.dir = base
		dir := filepath.Join(base, "keys")
		if fixture.snippet, fixture.err = WriteKeys(dir); fixture.err != nil {
			return
		}
		fixture.keys, fixture.err = Load(dir, provider.SandboxOptions{})
	})
	if fixture.err != nil {
		t.Fatalf("sandbox keys: %v", fixture.err)
	}
	return fixture.keys
}

// readKeyFile returns a file of the test keys directory.
func readKeyFile(t testing.TB, name string) []byte {
	t.Helper()
	testKeys(t)
	b, err := os.ReadFile(filepath.Join(fixture.dir, "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testSandbox is a Server with every provider, behind an httptest server.
type testSandbox struct {
	srv  *Server
	http *httptest.Server
	ps   []*Provider
}

func newSandbox(t testing.TB, params map[string]string) *testSandbox {
	t.Helper()
	testKeys(t)
	ps, err := Load(filepath.Join(fixture.dir, "keys"), provider.SandboxOptions{Params: params, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Providers: ps, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testSandbox{srv: srv, http: hs, ps: ps}
}

// provider returns the loaded provider of that name.
func (s *testSandbox) provider(t testing.TB, name string) *Provider {
	t.Helper()
	p, ok := Find(s.ps, name)
	if !ok {
		t.Fatalf("no sandbox for %s", name)
	}
	return p
}

// prepared returns a prepared order of provider p.
func prepared(t testing.TB, p *Provider, o Order, now time.Time) Order {
	t.Helper()
	o.Provider = p.Name()
	if o.OutTradeNo == "" {
		o.OutTradeNo = NewOutTradeNo(now)
	}
	if err := p.Prepare(&o, now); err != nil {
		t.Fatal(err)
	}
	return o
}
