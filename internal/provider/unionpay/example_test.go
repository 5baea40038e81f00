package unionpay

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/sandbox"
)

const repoRoot = "../../.."

// handlerOptions are the handler's own options in the example block, not
// the provider's.
var handlerOptions = map[string]bool{"max_age": true, "forward": true, "timeout": true, "endpoint": true}

// exampleValues reads the `payguard unionpay { ... }` block of
// examples/unionpay/Caddyfile into the spec's Values, line by line. The
// full Caddyfile (with the glue) is validated by the caddymodule tests; this
// checks, without Caddy, that every provider option the example names is
// in the spec's table and that the files it names make a working sidecar.
func exampleValues(t *testing.T) provider.Values {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "examples/unionpay/Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vals := provider.Values{}
	in, inQuery := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "payguard unionpay {":
			in = true
			continue
		case !in || line == "" || strings.HasPrefix(line, "#"):
			continue
		case line == "query {":
			inQuery = true
			continue
		case line == "}" && inQuery:
			inQuery = false
			continue
		case line == "}":
			return vals
		}
		fields := strings.Fields(line)
		if handlerOptions[fields[0]] {
			continue
		}
		opt, file, ok := Spec.Option(fields[0], inQuery)
		if !ok {
			t.Fatalf("example option %q (query %v) is not in the spec's table", fields[0], inQuery)
		}
		key := opt.JSONKey()
		if file {
			key = opt.FileKey()
		}
		vals[key] = fields[1:]
	}
	t.Fatal("no payguard unionpay block in the example")
	return nil
}

// TestExampleCaddyfile: the example's options build a provider that
// verifies the repository sandbox's notifications and queries it.
func TestExampleCaddyfile(t *testing.T) {
	vals := exampleValues(t)
	sb, err := Spec.Sandbox.Load(sandbox.Dir(filepath.Join(repoRoot, "examples/keys")), provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	book, srv := providertest.Serve(t, sb)
	fromRoot := func(v string) (string, error) {
		if strings.HasPrefix(v, "examples/") {
			return filepath.Join(repoRoot, v), nil
		}
		return v, nil
	}
	env, err := Spec.Resolve(vals, fromRoot, provider.Settings{QueryEndpoint: srv.URL + queryPath})
	if err != nil {
		t.Fatal(err)
	}
	built, err := Spec.Build(env)
	if err != nil {
		t.Fatal(err)
	}
	if built.Querier == nil {
		t.Fatal("the example's query credentials built no querier")
	}
	now := time.Now()
	o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: 990}
	if err := sb.Prepare(o, now); err != nil {
		t.Fatal(err)
	}
	book.Put(*o)
	msg, err := sb.BuildNotify(o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := built.Provider.VerifyNotify(&provider.Request{Body: msg.Body, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	q, err := built.Querier.QueryOrder(context.Background(), &v.Notification)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.CompareQuery(&v.Notification, q); err != nil {
		t.Fatal(err)
	}
}
