package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// stageKey marks the context an observer hands to a stage, so the test can
// see which context each stage's calls ran with.
type stageKey struct{}

// recordingObserver writes every hook call, and every outside call the
// stages make, to one log in order.
type recordingObserver struct {
	mu  sync.Mutex
	log []string
}

func (o *recordingObserver) add(s string) {
	o.mu.Lock()
	o.log = append(o.log, s)
	o.mu.Unlock()
}

func (o *recordingObserver) StageStart(ctx context.Context, s Stage) context.Context {
	o.add("start " + s.String())
	return context.WithValue(ctx, stageKey{}, s)
}

func (o *recordingObserver) StageDone(ctx context.Context, s Stage, d time.Duration, code reason.Code) {
	if got, _ := ctx.Value(stageKey{}).(Stage); got != s || d < 0 {
		o.add(fmt.Sprintf("BAD done %s: context of %s, duration %s", s, got, d))
		return
	}
	o.add("done " + s.String() + " " + string(code))
}

// call records an outside call with the stage its context belongs to.
func (o *recordingObserver) call(ctx context.Context, what string) {
	s, ok := ctx.Value(stageKey{}).(Stage)
	if !ok {
		o.add(what + " outside any stage")
		return
	}
	o.add(what + " in " + s.String())
}

func (o *recordingObserver) entries() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.log...)
}

// observedStore logs the store calls the stages make.
type observedStore struct {
	store.Store
	obs *recordingObserver
}

func (s observedStore) AdmitEvent(ctx context.Context, a store.Admission) (store.Admitted, error) {
	s.obs.call(ctx, "AdmitEvent")
	return s.Store.AdmitEvent(ctx, a)
}

func (s observedStore) ReleaseEvent(ctx context.Context, p, id, token string) error {
	s.obs.add("ReleaseEvent")
	return s.Store.ReleaseEvent(ctx, p, id, token)
}

func (s observedStore) CompleteEvent(ctx context.Context, p, id, token string, ttl time.Duration) error {
	s.obs.call(ctx, "CompleteEvent")
	return s.Store.CompleteEvent(ctx, p, id, token, ttl)
}

type observedQuerier struct {
	obs *recordingObserver
	res provider.QueryResult
}

func (q *observedQuerier) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	q.obs.call(ctx, "QueryOrder")
	r := q.res
	return &r, nil
}

type observedLookup struct {
	obs   *recordingObserver
	order Order
}

func (l *observedLookup) LookupOrder(ctx context.Context, outTradeNo string) (*Order, error) {
	l.obs.call(ctx, "LookupOrder")
	o := l.order
	return &o, nil
}

type observedPolicy struct {
	obs   *recordingObserver
	allow bool
}

func (p *observedPolicy) Name() string { return "test" }
func (p *observedPolicy) Allow(ctx context.Context, in *PolicyInput) (bool, error) {
	p.obs.call(ctx, "Allow")
	return p.allow, nil
}

// observed builds a pipeline with every stage configured: querier, order
// lookup and a policy, each logging to the observer.
func observed(t *testing.T) (*Pipeline, *recordingObserver, *observedQuerier, *observedLookup, *observedPolicy) {
	obs := &recordingObserver{}
	q := &observedQuerier{obs: obs, res: provider.QueryResult{Status: "paid", Amount: 1234, Currency: "CNY"}}
	l := &observedLookup{obs: obs, order: Order{Amount: 1234, Currency: "CNY"}}
	pol := &observedPolicy{obs: obs, allow: true}
	p, _ := newPipeline(t, func(c *Config) {
		c.Store = observedStore{Store: c.Store, obs: obs}
		c.Querier, c.OrderLookup, c.Policies = q, l, []Policy{pol}
		c.Observer = obs
	})
	return p, obs, q, l, pol
}

func TestObserverSeesEveryStageInOrder(t *testing.T) {
	p, obs, _, _, _ := observed(t)
	s := &shop{}
	forward := func(ctx context.Context, out *Outgoing) (Answer, error) {
		obs.call(ctx, "forward")
		return s.forward(ctx, out)
	}
	expect(t, p.Handle(context.Background(), post(msg("e1", "o1", "t1", 1234)), forward), 200, reason.Forwarded)
	want := []string{
		"start admit", "done admit ",
		"start read", "done read ",
		"start verify", "done verify ",
		"start fresh", "done fresh ",
		"start claim", "AdmitEvent in claim", "done claim ",
		"start query", "QueryOrder in query", "done query ",
		"start order", "LookupOrder in order", "done order ",
		"start policy", "Allow in policy", "done policy ",
		"start forward", "forward in forward", "done forward ",
		"start acknowledge", "CompleteEvent in acknowledge", "done acknowledge forwarded",
	}
	if got := obs.entries(); !reflect.DeepEqual(got, want) {
		t.Fatalf("observed\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// Every stage name is in Stages, in this order.
	var names []string
	for _, st := range Stages() {
		names = append(names, st.String())
	}
	if strings.Join(names, ",") != "admit,read,verify,fresh,claim,query,order,policy,forward,acknowledge" {
		t.Fatalf("Stages() = %v", names)
	}
}

// stagesOf lists the stages started and the last "done" entry: where
// the notification stopped.
func stagesOf(log []string) (started []string, last string) {
	for _, e := range log {
		if s, ok := strings.CutPrefix(e, "start "); ok {
			started = append(started, s)
		}
		if s, ok := strings.CutPrefix(e, "done "); ok {
			last = s
		}
	}
	return started, last
}

func TestObserverStopsAtTheRejectingStage(t *testing.T) {
	bad, _ := json.Marshal(fakeMsg{ID: "e", Sig: "bad"})
	stale, _ := json.Marshal(fakeMsg{ID: "e", Order: "o", Txn: "t", Amount: 1234, TS: time.Now().Add(-time.Hour).Unix(), Sig: "good"})
	noID, _ := json.Marshal(fakeMsg{Order: "o", Txn: "t", Amount: 1234, Sig: "good"})
	cases := []struct {
		name  string
		setup func(p *Pipeline, q *observedQuerier, l *observedLookup, pol *observedPolicy, s *shop)
		in    func() *Incoming
		stop  string // "<stage> <code>"
	}{
		{"method", nil, func() *Incoming { in := post(msg("e", "o", "t", 1234)); in.Method = http.MethodGet; return in }, "admit method_not_allowed"},
		{"streamed too large", nil, func() *Incoming {
			in := post([]byte(strings.Repeat("x", DefaultMaxBody+1)))
			in.ContentLength = -1
			return in
		}, "read body_too_large"},
		{"signature", nil, func() *Incoming { return post(bad) }, "verify bad_signature"},
		{"stale", nil, func() *Incoming { return post(stale) }, "fresh stale_timestamp"},
		{"no event id", nil, func() *Incoming { return post(noID) }, "claim malformed"},
		{"query mismatch", func(_ *Pipeline, q *observedQuerier, _ *observedLookup, _ *observedPolicy, _ *shop) {
			q.res.Amount = 1
		}, func() *Incoming { return post(msg("e", "o", "t", 1234)) }, "query query_mismatch"},
		{"order mismatch", func(_ *Pipeline, _ *observedQuerier, l *observedLookup, _ *observedPolicy, _ *shop) {
			l.order.Amount = 1
		}, func() *Incoming { return post(msg("e", "o", "t", 1234)) }, "order order_mismatch"},
		{"policy", func(_ *Pipeline, _ *observedQuerier, _ *observedLookup, pol *observedPolicy, _ *shop) {
			pol.allow = false
		}, func() *Incoming { return post(msg("e", "o", "t", 1234)) }, "policy policy_denied"},
		{"shop refuses", func(_ *Pipeline, _ *observedQuerier, _ *observedLookup, _ *observedPolicy, s *shop) {
			s.status = 500
		}, func() *Incoming { return post(msg("e", "o", "t", 1234)) }, "forward upstream_failed"},
		{"shop unreachable", func(_ *Pipeline, _ *observedQuerier, _ *observedLookup, _ *observedPolicy, s *shop) {
			s.err = errors.New("connection refused")
		}, func() *Incoming { return post(msg("e", "o", "t", 1234)) }, "forward upstream_failed"},
	}
	order := stageNames[:]
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, obs, q, l, pol := observed(t)
			s := &shop{}
			if tc.setup != nil {
				tc.setup(p, q, l, pol, s)
			}
			res := p.Handle(context.Background(), tc.in(), s.forward)
			log := obs.entries()
			started, last := stagesOf(log)
			if last != tc.stop || last != stageOf(last)+" "+string(res.Code) {
				t.Fatalf("stopped at %q (result %s), want %q\n%s", last, res.Code, tc.stop, strings.Join(log, "\n"))
			}
			// The stages started are a prefix of the order, ending at the
			// rejecting one; each done before the next starts.
			stop := stageOf(tc.stop)
			for i, st := range started {
				if order[i] != st {
					t.Fatalf("stage %d is %s, want %s\n%s", i, st, order[i], strings.Join(log, "\n"))
				}
			}
			if started[len(started)-1] != stop {
				t.Fatalf("went on after %s: %v", stop, started)
			}
			for _, e := range log {
				if strings.HasPrefix(e, "BAD") || strings.Contains(e, "outside") {
					t.Fatal(e)
				}
			}
			// A claimed event is released after its stage is reported: the
			// release is cleanup, not the stage's work.
			if i := indexOf(log, "ReleaseEvent"); i >= 0 && i != len(log)-1 {
				t.Fatalf("release inside a stage:\n%s", strings.Join(log, "\n"))
			}
		})
	}

	t.Run("duplicate", func(t *testing.T) {
		p, obs, _, _, _ := observed(t)
		s := &shop{}
		expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward), 200, reason.Forwarded)
		obs.mu.Lock()
		obs.log = nil
		obs.mu.Unlock()
		expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1234)), s.forward), 200, reason.Duplicate)
		if started, last := stagesOf(obs.entries()); last != "claim duplicate" || len(started) != 5 {
			t.Fatalf("duplicate: %v, stopped at %q", started, last)
		}
	})
}

func stageOf(entry string) string {
	s, _, _ := strings.Cut(entry, " ")
	return s
}

func indexOf(list []string, s string) int {
	for i, e := range list {
		if e == s {
			return i
		}
	}
	return -1
}

func TestObserverSkipsUnconfiguredStages(t *testing.T) {
	obs := &recordingObserver{}
	p, _ := newPipeline(t, func(c *Config) { c.Observer = obs })
	expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1)), (&shop{}).forward), 200, reason.Forwarded)
	started, last := stagesOf(obs.entries())
	if strings.Join(started, ",") != "admit,read,verify,fresh,claim,forward,acknowledge" || last != "acknowledge forwarded" {
		t.Fatalf("without query, order lookup and policies: %v, stopped at %q", started, last)
	}

	// A passthrough route is verified and forwarded, nothing else.
	obs = &recordingObserver{}
	p, _ = newPipeline(t, func(c *Config) {
		c.Provider = &fakeProvider{traits: provider.Traits{Method: "GET", Passthrough: true}}
		c.Observer = obs
	})
	in := post(msg("e", "o", "t", 1))
	in.Method = "GET"
	p.Handle(context.Background(), in, (&shop{status: 302}).forward)
	started, last = stagesOf(obs.entries())
	if strings.Join(started, ",") != "admit,read,verify,forward" || last != "forward forwarded" {
		t.Fatalf("passthrough: %v, stopped at %q", started, last)
	}
}
