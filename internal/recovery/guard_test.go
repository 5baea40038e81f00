package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// countingStore records the store operations a pipeline makes, in order.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls []string
	// paymentAtClaim: the last AdmitEvent carried the payment.
	paymentAtClaim bool
}

func (c *countingStore) record(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, op)
}

func (c *countingStore) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.calls
	c.calls = nil
	return got
}

func (c *countingStore) AdmitEvent(ctx context.Context, a store.Admission) (store.Admitted, error) {
	c.record("AdmitEvent")
	c.mu.Lock()
	c.paymentAtClaim = a.Payment != nil
	c.mu.Unlock()
	return c.Store.AdmitEvent(ctx, a)
}

func (c *countingStore) RecordPayment(ctx context.Context, ns, no, txn string, ttl time.Duration) (string, error) {
	c.record("RecordPayment")
	return c.Store.RecordPayment(ctx, ns, no, txn, ttl)
}

func (c *countingStore) CompleteEvent(ctx context.Context, ns, id, tok string, ttl time.Duration) error {
	c.record("CompleteEvent")
	return c.Store.CompleteEvent(ctx, ns, id, tok, ttl)
}

func (c *countingStore) ClaimDelivery(ctx context.Context, ns, txn, src, id string, lease time.Duration) (store.TxnClaim, error) {
	c.record("ClaimDelivery")
	return c.Store.ClaimDelivery(ctx, ns, txn, src, id, lease)
}

func (c *countingStore) CompleteDelivery(ctx context.Context, cp store.Completion) error {
	c.record("CompleteDelivery")
	return c.Store.CompleteDelivery(ctx, cp)
}

func (c *countingStore) EndWatch(ctx context.Context, ns, prov, no string) error {
	c.record("EndWatch")
	return c.Store.EndWatch(ctx, ns, prov, no)
}

// On a recoverable provider's route the guard is installed whether or not
// a recover route exists for the notification's namespace. Without one it
// refuses nothing, so the payment goes with the claim: two store steps
// per paid notification, as on a route without the hook. With one, the
// payment waits for the guard's delivery claim, as before: a guard that
// refuses the notification (in_flight, duplicate) leaves no payment
// record of it.
func TestGuardedOnlyWhereRecovered(t *testing.T) {
	eachRaceStore(t, func(t *testing.T, st store.Store) {
		ns := pipeline.Namespace("", "alipay", "m1")
		for _, tc := range []struct {
			name      string
			recovered string // the namespace with a recover route, "" none
			want      []string
			atClaim   bool
		}{
			{"no recover route", "", []string{"AdmitEvent", "CompleteEvent"}, true},
			{"another namespace's", "alipay:m2", []string{"AdmitEvent", "CompleteEvent"}, true},
			{"this namespace's", ns, []string{"AdmitEvent", "ClaimDelivery", "RecordPayment", "CompleteDelivery", "EndWatch"}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cs := &countingStore{Store: st}
				routes := &Routes{}
				if tc.recovered != "" {
					routes.Add(tc.recovered, "alipay", []time.Duration{time.Minute})
				}
				guard := NewGuard(GuardConfig{Provider: "alipay", Store: cs, Routes: routes, Lease: time.Minute})
				if guard.Guards(ns) != (tc.recovered == ns) {
					t.Fatalf("Guards(%q) = %v", ns, guard.Guards(ns))
				}
				p, err := pipeline.New(pipeline.Config{Provider: plainProvider{}, Store: cs, Hook: guard})
				if err != nil {
					t.Fatal(err)
				}
				id := "evt-" + tc.name
				body, _ := json.Marshal(plainMsg{ID: id, Order: "O-" + tc.name, Txn: "T-" + tc.name, Amount: 1234})
				in := &pipeline.Incoming{Method: http.MethodPost, Path: "/notify", Header: http.Header{}, Body: bytes.NewReader(body), ContentLength: -1}
				res := p.Handle(context.Background(), in, func(context.Context, *pipeline.Outgoing) (pipeline.Answer, error) {
					return pipeline.Answer{Status: http.StatusOK, Body: []byte("success")}, nil
				})
				if res.Code != reason.Forwarded {
					t.Fatalf("%s (%v)", res.Code, res.Err)
				}
				if got := cs.take(); !slices.Equal(got, tc.want) {
					t.Errorf("store operations %v, want %v", got, tc.want)
				}
				if cs.paymentAtClaim != tc.atClaim {
					t.Errorf("payment recorded with the claim: %v, want %v", cs.paymentAtClaim, tc.atClaim)
				}
				// The payment was recorded either way: a second transaction of
				// the order is flagged.
				body, _ = json.Marshal(plainMsg{ID: id + "-2", Order: "O-" + tc.name, Txn: "T2-" + tc.name, Amount: 1234})
				in = &pipeline.Incoming{Method: http.MethodPost, Path: "/notify", Header: http.Header{}, Body: bytes.NewReader(body), ContentLength: -1}
				res = p.Handle(context.Background(), in, func(context.Context, *pipeline.Outgoing) (pipeline.Answer, error) {
					return pipeline.Answer{Status: http.StatusOK, Body: []byte("success")}, nil
				})
				if res.Code != reason.Forwarded || res.DuplicateOf != "T-"+tc.name {
					t.Fatalf("the second transaction: %s, duplicate of %q", res.Code, res.DuplicateOf)
				}
			})
		}
	})
}
