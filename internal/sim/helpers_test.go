package sim

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The sandbox keys are generated once per test binary with WriteKeys (so
// every test also exercises it) and read back with LoadKeys. RSA-2048
// generation costs tenths of a second per key.
var fixture struct {
	once    sync.Once
	dir     string
	snippet string
	keys    *Keys
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func testKeys(t testing.TB) *Keys {
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
		fixture.keys, fixture.err = LoadKeys(dir)
	})
	if fixture.err != nil {
		t.Fatalf("sandbox keys: %v", fixture.err)
	}
	return fixture.keys
}

// readKeyFile returns a file of the test keys directory.
func readKeyFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testKeys(t).Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sandbox is a Server with every provider, behind an httptest server.
type sandbox struct {
	srv  *Server
	http *httptest.Server
	ali  *Alipay
	v3   *WeChatV3
	v2   *WeChatV2
}

func newSandbox(t testing.TB, v2SignType string) *sandbox {
	t.Helper()
	ps, err := Providers(testKeys(t), v2SignType, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Providers: ps, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &sandbox{srv: srv, http: hs, ali: ps[0].(*Alipay), v3: ps[1].(*WeChatV3), v2: ps[2].(*WeChatV2)}
}

// prepared returns a prepared order of provider p.
func prepared(t testing.TB, p Provider, o Order, now time.Time) Order {
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
