package pipeline

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

func eventAt(id string, at time.Time) []byte {
	b, _ := json.Marshal(fakeMsg{ID: id, Order: "o" + id, Txn: "t" + id, ET: at.Unix(), Sig: "good"})
	return b
}

// Issue 10 item 5: where only an event time is signed, a notification
// older than max_age (default dedup_ttl) is stale: a three-month-old one,
// or a replay after the store forgot the event, is not delivered again.
func TestMaxAge(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	p, _ := newPipeline(t, func(c *Config) { c.Now = clock; c.DedupTTL = 72 * time.Hour })
	if p.MaxAge() != 72*time.Hour {
		t.Fatalf("max_age default %s, want dedup_ttl", p.MaxAge())
	}
	s := &shop{}
	expect(t, p.Handle(context.Background(), post(eventAt("fresh", now.Add(-71*time.Hour))), s.forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(eventAt("old", now.Add(-73*time.Hour))), s.forward), 401, reason.StaleTimestamp)
	expect(t, p.Handle(context.Background(), post(eventAt("months", now.AddDate(0, -3, 0))), s.forward), 401, reason.StaleTimestamp)
	// The future gets the tolerance window, no more.
	expect(t, p.Handle(context.Background(), post(eventAt("soon", now.Add(4*time.Minute))), s.forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(eventAt("later", now.Add(6*time.Minute))), s.forward), 401, reason.StaleTimestamp)
	if s.count() != 2 {
		t.Fatalf("shop got %d", s.count())
	}

	p, _ = newPipeline(t, func(c *Config) { c.Now = clock; c.MaxAge = time.Hour })
	expect(t, p.Handle(context.Background(), post(eventAt("hour", now.Add(-2*time.Hour))), s.forward), 401, reason.StaleTimestamp)
}

// A provider's own dedup_ttl default (App Store's 168h) is the route's,
// and so its max_age, when the handler sets none.
func TestProviderDefaultDedupTTL(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) {
		c.Provider = &fakeProvider{traits: provider.Traits{Method: http.MethodPost, DefaultDedupTTL: 168 * time.Hour}}
	})
	if p.DedupTTL() != 168*time.Hour || p.MaxAge() != 168*time.Hour {
		t.Fatalf("dedup_ttl %s, max_age %s", p.DedupTTL(), p.MaxAge())
	}
}
