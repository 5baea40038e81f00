package pipeline

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

// judgingProvider is fakeProvider whose legacy shops answer "success" or
// "fail", like Alipay's.
type judgingProvider struct{ fakeProvider }

func (judgingProvider) Accepted(status int, _ http.Header, body []byte) bool {
	return status/100 == 2 && strings.TrimSpace(string(body)) == "success"
}

// Issue 10 item 3: a legacy handler's 200 "fail" asks for a retry; it used
// to count as success, the event was done and the retry a duplicate.
func TestLegacyFailIsRetry(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.Provider = &judgingProvider{} })
	s := &shop{body: "fail"}
	expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1)), s.forward), 502, reason.UpstreamFailed)
	s.body = "success\n"
	expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1)), s.forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(msg("e", "o", "t", 1)), s.forward), 200, reason.Duplicate)
	if s.count() != 2 {
		t.Fatalf("shop got %d, want the refused one and the retry", s.count())
	}
}

// With forward normalized the shop is no legacy handler: a 2xx accepts,
// whatever its body; without a judge, the same.
func TestNormalizedOr2xxAccepts(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.Provider = &judgingProvider{}; c.Forward = ForwardNormalized })
	expect(t, p.Handle(context.Background(), post(msg("n", "o", "t", 1)), (&shop{body: "ok"}).forward), 200, reason.Forwarded)
	p, _ = newPipeline(t, nil)
	expect(t, p.Handle(context.Background(), post(msg("m", "o", "t", 1)), (&shop{body: "fail"}).forward), 200, reason.Forwarded)
	expect(t, p.Handle(context.Background(), post(msg("k", "o", "t", 1)), (&shop{status: 302}).forward), 502, reason.UpstreamFailed)
}
