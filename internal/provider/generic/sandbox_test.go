package generic

import (
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

func settingsValues(set []provider.Setting) provider.Values {
	spec, _ := provider.Lookup(SpecName)
	v := provider.Values{}
	for _, s := range set {
		o, _, ok := spec.Option(s.Name, s.Query)
		if !ok {
			panic("the sandbox sets an option the table lacks: " + s.Name)
		}
		v[o.JSONKey()] = s.Args
	}
	return v
}

// The sandbox's notifications verify with the generic block its Settings
// describe, every tamper is refused, and another sandbox's are too.
func TestSandbox(t *testing.T) {
	sb, err := sandboxSpec.Load(providertest.KeyDir(t, SpecName), provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, warnings, err := buildValues(t, settingsValues(sb.Settings("http://127.0.0.1:1")))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	now := time.Now()
	for _, status := range []string{"paid", "refunded"} {
		o := &sandbox.Order{Provider: SpecName, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: 4200, Status: status}
		msg, err := sb.BuildNotify(o, "", now)
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.VerifyNotify(&provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now})
		if err != nil {
			t.Fatalf("%s: %v", status, err)
		}
		n := v.Notification
		if n.EventID != o.EventID || n.OutTradeNo != o.OutTradeNo || n.Amount != 4200 || string(n.Status) != status ||
			v.Timestamp.Unix() != now.Unix() || v.Nonce == "" {
			t.Errorf("%s: %+v", status, v)
		}
		if status == "refunded" && n.RefundAmount != 4200 {
			t.Errorf("refund amount %d", n.RefundAmount)
		}
		for _, field := range sandboxSpec.Tamperable {
			msg, err := sb.BuildNotify(o, field, now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.VerifyNotify(&provider.Request{Header: msg.Header, Body: msg.Body, Now: now})
			if reason.CodeOf(err, "") != reason.BadSignature {
				t.Errorf("%s: tampered %s: %v", status, field, err)
			}
		}
	}
	stranger, _ := sandboxSpec.Load(providertest.KeyDir(t, SpecName), provider.SandboxOptions{})
	o := &sandbox.Order{Provider: SpecName, OutTradeNo: "ORDER1", Amount: 1}
	msg, _ := stranger.BuildNotify(o, "", now)
	if _, err := p.VerifyNotify(&provider.Request{Header: msg.Header, Body: msg.Body, Now: now}); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatalf("stranger: %v", err)
	}
	if _, err := sandboxSpec.Load(sandbox.Dir(t.TempDir()), provider.SandboxOptions{}); err != sandbox.ErrNoKeys {
		t.Fatalf("empty dir: %v", err)
	}
	if err := sb.Prepare(&sandbox.Order{Provider: SpecName, OutTradeNo: "O", Amount: 1, Status: "SUCCESS"}, now); err == nil {
		t.Error("a status word outside the contract's accepted")
	}
}
