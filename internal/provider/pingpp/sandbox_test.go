package pingpp

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

// buildFromSettings builds the provider the way the glue does, from the
// sandbox's handler options.
func buildFromSettings(t *testing.T, settings []provider.Setting) provider.Built {
	t.Helper()
	spec, ok := provider.Lookup(Name)
	if !ok {
		t.Fatal("pingpp is not registered")
	}
	built, err := spec.BuildFromSettings(settings, provider.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return built
}

func TestSandboxRoundTrip(t *testing.T) {
	dir := providertest.KeyDir(t, Name)
	sb, err := sandboxSpec.Load(dir, provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	book, srv := providertest.Serve(t, sb)
	built := buildFromSettings(t, sb.Settings(srv.URL))
	if built.Querier == nil {
		t.Fatal("sandbox settings configure no query")
	}

	now := time.Now()
	for _, status := range []string{simPaid, simRefunded} {
		o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: 1999, Status: status}
		if err := sb.Prepare(o, now); err != nil {
			t.Fatal(err)
		}
		book.Put(*o)
		msg, err := sb.BuildNotify(o, "", now)
		if err != nil {
			t.Fatal(err)
		}
		req := &provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now}
		v, err := built.Provider.VerifyNotify(req)
		if err != nil {
			t.Fatalf("%s: genuine sandbox webhook refused: %v", status, err)
		}
		if _, err := built.Querier.QueryOrder(context.Background(), &v.Notification); err != nil {
			t.Fatalf("%s: query: %v", status, err)
		}
		for _, field := range sandboxSpec.Tamperable {
			msg, err := sb.BuildNotify(o, field, now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = built.Provider.VerifyNotify(&provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now})
			if reason.CodeOf(err, "") != reason.BadSignature {
				t.Errorf("%s: tampered %s: %v, want bad_signature", status, field, err)
			}
		}
	}

	// A paid notice for an order the sandbox's API says is unpaid.
	o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: 100, QueryStatus: simUnpaid}
	if err := sb.Prepare(o, now); err != nil {
		t.Fatal(err)
	}
	book.Put(*o)
	msg, _ := sb.BuildNotify(o, "", now)
	v, err := built.Provider.VerifyNotify(&provider.Request{Header: msg.Header, Body: msg.Body, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	q, err := built.Querier.QueryOrder(context.Background(), &v.Notification)
	if err != nil || q.Status != notification.StatusPending {
		t.Fatalf("unpaid charge: %+v %v", q, err)
	}
}

// Another sandbox's keys (a stranger signing) are refused.
func TestSandboxStrangerKeys(t *testing.T) {
	mine, err := sandboxSpec.Load(providertest.KeyDir(t, Name), provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := sandboxSpec.Load(providertest.KeyDir(t, Name), provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	built := buildFromSettings(t, mine.Settings("http://127.0.0.1:1"))
	now := time.Now()
	o := &sandbox.Order{Provider: Name, OutTradeNo: "ORDER1", Amount: 100}
	msg, err := stranger.BuildNotify(o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := built.Provider.VerifyNotify(&provider.Request{Header: msg.Header, Body: msg.Body, Now: now}); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatalf("stranger's webhook: %v", err)
	}
}

func TestSandboxLoad(t *testing.T) {
	if _, err := sandboxSpec.Load(sandbox.Dir(t.TempDir()), provider.SandboxOptions{}); err != sandbox.ErrNoKeys {
		t.Fatalf("empty dir: %v, want ErrNoKeys", err)
	}
	dir := providertest.KeyDir(t, Name)
	if err := os.Remove(dir.Path(sandboxAPIKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := sandboxSpec.Load(dir, provider.SandboxOptions{}); err == nil || err == sandbox.ErrNoKeys {
		t.Fatalf("incomplete dir: %v", err)
	}
	files, _ := sandboxSpec.GenerateKeys()
	for _, f := range files {
		if len(f.Name) < len(Name) || f.Name[:len(Name)] != Name {
			t.Errorf("key file %s is not prefixed %s", f.Name, Name)
		}
		if f.Name != sandboxPublic && f.Mode != 0o600 {
			t.Errorf("private file %s has mode %o", f.Name, f.Mode)
		}
	}
}
