package pipeline

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/store/redistest"
)

// allowPolicy allows what its switch says.
type allowPolicy struct{ allow *bool }

func (allowPolicy) Name() string { return "switch" }
func (p allowPolicy) Allow(context.Context, *PolicyInput) (bool, error) {
	return *p.allow, nil
}

// redisPipeline is a pipeline on a Redis store whose commands are
// counted.
func redisPipeline(t *testing.T, mod func(*Config)) (*Pipeline, *redistest.Commands) {
	t.Helper()
	client, cmds := redistest.Start(t).CountedClient()
	st := store.NewRedis(client, "payguard:")
	t.Cleanup(func() { st.Close() })
	p, _ := newPipeline(t, func(c *Config) {
		c.Store = st
		if mod != nil {
			mod(c)
		}
	})
	return p, cmds
}

func nonceMsg(id, order, txn, nonce string) []byte {
	b, _ := json.Marshal(fakeMsg{ID: id, Order: order, Txn: txn, Amount: 1234, Nonce: nonce, TS: time.Now().Unix(), Sig: "good"})
	return b
}

// The store's round trips of one notification: one before the forward
// (nonce, claim and payment in one script) and one after (the
// completion); a duplicate costs the one. With a stage between the claim
// and the forward the payment waits for it: one more.
func TestRedisRoundTripsPerNotification(t *testing.T) {
	t.Parallel()
	p, cmds := redisPipeline(t, nil)
	s := &shop{}
	ctx := context.Background()
	expect(t, p.Handle(ctx, post(nonceMsg("warm", "ow", "tw", "nw")), s.forward), 200, reason.Forwarded) // loads the scripts
	cmds.Take()
	expect(t, p.Handle(ctx, post(nonceMsg("e1", "o1", "t1", "n1")), s.forward), 200, reason.Forwarded)
	if got := cmds.Take(); len(got) != 2 {
		t.Errorf("a paid notification with a nonce: %v, want two scripts (admit, complete)", got)
	}
	expect(t, p.Handle(ctx, post(nonceMsg("e1", "o1", "t1", "n2")), s.forward), 200, reason.Duplicate)
	if got := cmds.Take(); len(got) != 1 {
		t.Errorf("a duplicate: %v, want one script", got)
	}

	allow := true
	p, cmds = redisPipeline(t, func(c *Config) { c.Policies = []Policy{allowPolicy{&allow}} })
	expect(t, p.Handle(ctx, post(nonceMsg("warm", "ow", "tw", "nw")), s.forward), 200, reason.Forwarded)
	cmds.Take()
	expect(t, p.Handle(ctx, post(nonceMsg("e1", "o1", "t1", "n1")), s.forward), 200, reason.Forwarded)
	if got := cmds.Take(); len(got) != 3 {
		t.Errorf("with a policy: %v, want three scripts (admit, payment, complete)", got)
	}
}

// The duplicate-payment record is written only for a notification that
// passed the later stages: one a policy denied leaves no record, on both
// stores; without such a stage the claim records it.
func TestPaymentRecordedOnlyPastTheLaterStages(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T, mod func(*Config)) *Pipeline{
		"memory": func(t *testing.T, mod func(*Config)) *Pipeline { p, _ := newPipeline(t, mod); return p },
		"redis":  func(t *testing.T, mod func(*Config)) *Pipeline { p, _ := redisPipeline(t, mod); return p },
	} {
		t.Run(name, func(t *testing.T) {
			allow := false
			p := open(t, func(c *Config) { c.Policies = []Policy{allowPolicy{&allow}} })
			s := &shop{}
			ctx := context.Background()
			expect(t, p.Handle(ctx, post(nonceMsg("e1", "o1", "tA", "n1")), s.forward), 403, reason.PolicyDenied)
			allow = true
			res := p.Handle(ctx, post(nonceMsg("e2", "o1", "tB", "n2")), s.forward)
			expect(t, res, 200, reason.Forwarded)
			if res.DuplicateOf != "" {
				t.Fatalf("tB flagged as a duplicate of %q: the denied tA was recorded", res.DuplicateOf)
			}
			res = p.Handle(ctx, post(nonceMsg("e3", "o1", "tC", "n3")), s.forward)
			if res.DuplicateOf != "tB" || s.got[1].Header.Get(HeaderDuplicatePayment) != "tB" {
				t.Fatalf("tC: duplicate of %q, want tB", res.DuplicateOf)
			}

			p = open(t, nil)
			s = &shop{err: context.DeadlineExceeded}
			expect(t, p.Handle(ctx, post(nonceMsg("e1", "o1", "tA", "n1")), s.forward), 502, reason.UpstreamFailed)
			s.err = nil
			// As before: the payment was recorded before the forward, and
			// the failed forward's claim released.
			res = p.Handle(ctx, post(nonceMsg("e2", "o1", "tB", "n2")), s.forward)
			if res.DuplicateOf != "tA" {
				t.Fatalf("after a failed forward of tA: tB duplicate of %q, want tA", res.DuplicateOf)
			}
			expect(t, p.Handle(ctx, post(nonceMsg("e1", "o1", "tA", "n3")), s.forward), 200, reason.Forwarded)
		})
	}
}
