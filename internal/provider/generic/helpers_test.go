package generic

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
)

// testRSA is one RSA-2048 key per test binary.
func testRSA(t testing.TB) *rsa.PrivateKey { return providertest.RSAKeys(t, 1)[0] }

func testEd25519(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// constantMappings satisfy the required mappings where a test is about
// the signature only.
var constantMappings = map[string]string{
	"event_id": `"evt-1"`, "out_trade_no": `"order-1"`, "amount": `1`, "currency": `"CNY"`, "status": `"other"`,
}

// build resolves and builds values through the registered spec, as the
// glue does, and returns the start-up warnings.
func buildValues(t testing.TB, v provider.Values) (*Provider, []string, error) {
	t.Helper()
	spec, ok := provider.Lookup(SpecName)
	if !ok {
		t.Fatal("generic is not registered")
	}
	var warnings []string
	env, err := spec.Resolve(v, nil, provider.Settings{Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		return nil, nil, err
	}
	built, err := spec.Build(env)
	if err != nil {
		return nil, warnings, err
	}
	return built.Provider.(*Provider), warnings, nil
}

func mustBuild(t testing.TB, v provider.Values) *Provider {
	t.Helper()
	p, _, err := buildValues(t, v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withMappings adds the constant mappings a values set lacks.
func withMappings(v provider.Values) provider.Values {
	for k, src := range constantMappings {
		if _, ok := v[k]; !ok {
			v[k] = []string{src}
		}
	}
	return v
}

func request(body []byte, headers map[string]string) *provider.Request {
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	return &provider.Request{Method: http.MethodPost, Header: h, Body: body, Now: time.Now()}
}

// commonOptions are the handler's own options (DESIGN.md section 3),
// which the glue reads before handing the rest to the spec.
var commonOptions = map[string]bool{
	"allow_ips": true, "max_body": true, "tolerance": true, "dedup_ttl": true, "claim_lease": true,
	"forward_timeout": true, "forward": true, "upstream_secret": true, "upstream_secret_file": true,
	"policy": true, "order_lookup": true, "order_timeout": true, "max_age": true, "order_namespace": true,
	"audit_redact": true, "mode": true,
}

// exampleValues reads the `payguard generic { ... }` blocks of an
// examples/generic Caddyfile with Caddy's own lexer: one line, one option.
// File paths in the examples are relative to the repository root.
func exampleValues(t *testing.T, name string) []provider.Values {
	t.Helper()
	root := filepath.Join("..", "..", "..")
	b, err := os.ReadFile(filepath.Join(root, "examples", "generic", name))
	if err != nil {
		t.Fatal(err)
	}
	toks, err := caddyfile.Tokenize(b, name)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := provider.Lookup(SpecName)
	var out []provider.Values
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].Text != "payguard" || toks[i+1].Text != "generic" || toks[i+2].Text != "{" {
			continue
		}
		v := provider.Values{}
		line, opt := -1, ""
		for i += 3; i < len(toks) && toks[i].Text != "}"; i++ {
			tk := toks[i]
			if tk.Line != line {
				line, opt = tk.Line, tk.Text
				continue
			}
			if commonOptions[opt] {
				continue
			}
			arg := tk.Text
			if strings.HasSuffix(opt, "_file") {
				arg = filepath.Join(root, arg)
			}
			key := opt
			if o, _, ok := spec.Option(opt, false); ok {
				key = o.JSONKey()
			}
			v[key] = append(v[key], arg)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no payguard generic block", name)
	}
	return out
}
