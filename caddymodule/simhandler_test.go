package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/payguard/payguard/caddymodule"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/sim"
)

// The helpers here are prefixed with sim: integration_test.go, in the same
// test package, has its own unprefixed ones.

// simKeys writes a fresh sandbox keys directory for the test.
func simKeys(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := sim.WriteKeys(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func simAdapt(t *testing.T, caddyfile string) ([]byte, error) {
	t.Helper()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	return cfg, err
}

func TestSimHandlerAdapt(t *testing.T) {
	dir := simKeys(t)
	cfg, err := simAdapt(t, fmt.Sprintf(":9002 {\n\tpayguard_sim {\n\t\tkeys %s\n\t}\n\trespond 404\n}\n", dir))
	if err != nil {
		t.Fatal(err)
	}
	// Ordered before respond without an `order` line.
	s := string(cfg)
	i, j := strings.Index(s, `"handler":"payguard_sim"`), strings.Index(s, `"handler":"static_response"`)
	if i < 0 || j < 0 || i > j || !strings.Contains(s, `"keys":"`+dir+`"`) {
		t.Fatalf("adapted: %s", cfg)
	}
	// A placeholder is left for provision.
	if _, err := simAdapt(t, ":9002 {\n\tpayguard_sim {\n\t\tkeys {env.PAYGUARD_SIM_KEYS}\n\t}\n}\n"); err != nil {
		t.Fatalf("placeholder: %v", err)
	}
	for _, bad := range []struct{ block, want string }{
		{"payguard_sim", "keys <dir> is required"},
		{"payguard_sim {\n}", "keys <dir> is required"},
		{"payguard_sim extra", "wrong argument count"},
		{"payguard_sim {\n\tkeys\n}", "wrong argument count"},
		{"payguard_sim {\n\tkeys " + dir + " " + dir + "\n}", "wrong argument count"},
		{"payguard_sim {\n\tkeys " + dir + "\n\tkeys " + dir + "\n}", "given twice"},
		{"payguard_sim {\n\tlisten :1\n}", `unknown option "listen"`},
		{"payguard_sim {\n\tkeys " + t.TempDir() + "\n}", "holds no sandbox keys"},
	} {
		_, err := simAdapt(t, ":9002 {\n"+bad.block+"\n}\n")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.block, err, bad.want)
		}
	}
}

func TestSimHandlerServesInCaddy(t *testing.T) {
	dir := simKeys(t)
	port := freePort(t)
	startCaddy(t, testGlobals()+fmt.Sprintf(`
http://127.0.0.1:%[1]d {
	handle_path /sandbox/* {
		payguard_sim {
			keys %[2]s
		}
	}
	handle {
		payguard_sim {
			keys %[2]s
		}
		respond "not the sandbox" 404
	}
}
`, port, dir))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	resp, err := http.Post(base+"/_sim/orders", "application/json", strings.NewReader(`{"provider":"alipay","out_trade_no":"C-1","amount":200}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"amount":200`) {
		t.Fatalf("register through Caddy: %d %s", resp.StatusCode, b)
	}
	// The book is shared by both routes (same keys directory) and
	// visible through the prefix.
	resp, err = http.Get(base + "/sandbox/_sim/orders")
	if err != nil {
		t.Fatal(err)
	}
	var orders []sim.Order
	_ = json.NewDecoder(resp.Body).Decode(&orders)
	resp.Body.Close()
	if len(orders) != 1 || orders[0].OutTradeNo != "C-1" {
		t.Fatalf("orders via /sandbox: %+v", orders)
	}
	// Paths the sandbox does not serve go on to the next handler.
	resp, err = http.Get(base + "/shop")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(b) != "not the sandbox" {
		t.Fatalf("fallthrough: %d %q", resp.StatusCode, b)
	}
	// A method the route does not take is the sandbox's 405, not a
	// fallthrough.
	resp, err = http.Get(base + "/alipay/gateway.do")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET gateway: %d", resp.StatusCode)
	}
}

// simShop is a recording upstream for the sidecar.
type simShop struct {
	mu   sync.Mutex
	reqs []http.Header
	srv  *httptest.Server
}

func newSimShop(t *testing.T) *simShop {
	s := &simShop{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Header.Clone())
		s.mu.Unlock()
		_, _ = io.WriteString(w, legacyAnswer(r))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *simShop) got() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.reqs...)
}

// simStack runs, in one Caddy, what the repository's root Caddyfile is
// meant to run: the sidecar (payguard alipay, querying the sandbox) in
// front of a shop, and the sandbox (payguard_sim).
type simStack struct {
	sidecar, sandbox string
	shop             *simShop
	keys             string
}

func startSimStack(t *testing.T) *simStack {
	t.Helper()
	dir := simKeys(t)
	shop := newSimShop(t)
	sidecarPort, sandboxPort := freePort(t), freePort(t)
	startCaddy(t, testGlobals()+fmt.Sprintf(`
http://127.0.0.1:%[1]d {
	handle /alipay/notify {
		payguard alipay {
			app_id %[3]s
			public_key_file %[4]s/alipay_public.pem
			query {
				endpoint http://127.0.0.1:%[2]d/alipay/gateway.do
				private_key_file %[4]s/alipay_app_private.pem
				cache 0s
			}
		}
		reverse_proxy %[5]s
	}
}

http://127.0.0.1:%[2]d {
	payguard_sim {
		keys %[4]s
	}
}
`, sidecarPort, sandboxPort, alipay.DefaultSandboxAppID, dir, strings.TrimPrefix(shop.srv.URL, "http://")))
	return &simStack{
		sidecar: fmt.Sprintf("http://127.0.0.1:%d", sidecarPort),
		sandbox: fmt.Sprintf("http://127.0.0.1:%d", sandboxPort),
		shop:    shop,
		keys:    dir,
	}
}
