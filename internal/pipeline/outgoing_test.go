package pipeline

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

// TestOutgoingHeadersShareNoValues: the forwarded request's headers are
// cloned into one backing array with payguard's own after them, so a
// handler after payguard that appends to or rewrites one header's values
// in place (Caddy's header directive does) changes that header only: no
// other header, nothing of the incoming request. With every optional
// header payguard sets (a refund flagged as a duplicate payment, forward
// normalized, signed for the shop) all of them fit.
func TestOutgoingHeadersShareNoValues(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) {
		c.Forward = ForwardNormalized
		c.UpstreamSecrets = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
		c.Now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	})
	in := http.Header{
		"Content-Type": {"application/json"},
		"X-Multi":      {"a", "b"},
		"X-Last":       {"z"},
		"X-Nil":        nil,
		"Payguard-Foo": {"sent by the client"},
	}
	orig := in.Clone()
	n := &notification.Notification{EventID: "evt", OutTradeNo: "o-1", TransactionID: "t-1", Amount: 100, Currency: "CNY",
		Status: notification.StatusRefunded, RefundAmount: 40, RefundID: "r-1", Provider: "fake"}
	out := &Outgoing{}
	if err := p.outgoing(out, in, []byte(`{}`), n, &provider.QueryResult{}, "t-0"); err != nil {
		t.Fatal(err)
	}
	h := out.Header
	want := map[string]string{
		HeaderProvider: "fake", HeaderEventID: "evt", HeaderOutTradeNo: "o-1", HeaderTransactionID: "t-1",
		HeaderAmount: "100", HeaderCurrency: "CNY", HeaderStatus: "refunded", HeaderQuery: "confirmed",
		HeaderDuplicatePayment: "t-0", HeaderRefundAmount: "40", HeaderRefundID: "r-1",
		"Content-Type": "application/json", "Webhook-Id": "evt", "Webhook-Timestamp": "1800000000",
		"X-Last": "z",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	if len(h.Values("Webhook-Signature")) != 1 || h.Get("Payguard-Foo") != "" {
		t.Errorf("signature %q, client's Payguard-Foo %q", h.Values("Webhook-Signature"), h.Get("Payguard-Foo"))
	}
	if v, ok := h["X-Nil"]; !ok || v != nil {
		t.Errorf("a nil value became %#v (present %v)", v, ok)
	}
	before := h.Clone()
	for k := range h {
		h[k] = append(h[k], "appended") // never lands in another header's value
	}
	for k, vv := range before {
		if got := h[k]; vv != nil && !slices.Equal(got[:len(got)-1], vv) {
			t.Errorf("appending to the headers changed %s: %q, was %q", k, got, vv)
		}
	}
	for k := range h {
		for i := range h[k] {
			h[k][i] = "rewritten"
		}
	}
	for k, vv := range orig {
		if k == "Payguard-Foo" {
			continue // stripped at admission in the pipeline; outgoing strips its copy only
		}
		if !slices.Equal(in[k], vv) {
			t.Errorf("rewriting the forwarded headers changed the incoming %s: %q, was %q", k, in[k], vv)
		}
	}
}

// TestAnswerHeadersShareNoValues: the provider's answer takes its
// Content-Type and Payguard-Reason from one array; a handler appending to
// one of them after payguard (the header directive) changes that one only.
func TestAnswerHeadersShareNoValues(t *testing.T) {
	p, _ := newPipeline(t, nil)
	for _, in := range []*Incoming{post(msg("e1", "o", "t", 1)), {Method: "GET", Header: http.Header{}}} {
		res := p.Handle(context.Background(), in, (&shop{}).forward)
		h := res.Response.Header
		before := h.Clone()
		for k := range h {
			h[k] = append(h[k], "appended")
		}
		for k, vv := range before {
			if got := h[k]; !slices.Equal(got[:len(got)-1], vv) {
				t.Errorf("%s: appending to the answer's headers changed %s: %q, was %q", res.Code, k, got, vv)
			}
		}
		if before.Get("Content-Type") != "text/plain" || before.Get(HeaderReason) != string(res.Code) {
			t.Errorf("%s: answer headers %v", res.Code, before)
		}
	}
}
