package pipeline

import (
	"context"
	"net/http"
	"testing"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Issue 10 item 6: "Connection: Payguard-Amount, Payguard-Status" made
// reverse_proxy delete payguard's own headers after they were set; the
// headers Connection names, Connection itself and the Trailer declaration
// never reach the shop.
func TestConnectionNamedHeadersStripped(t *testing.T) {
	p, _ := newPipeline(t, nil)
	s := &shop{}
	in := post(msg("conn", "o", "t", 1234))
	in.Header.Add("Connection", "Payguard-Amount, payguard-status")
	in.Header.Add("Connection", "X-Secret-Hop")
	in.Header.Set("X-Secret-Hop", "1")
	in.Header.Set("Trailer", "Payguard-Amount")
	in.Header.Set("X-Kept", "yes")
	expect(t, p.Handle(context.Background(), in, s.forward), 200, reason.Forwarded)
	h := s.got[0].Header
	for _, k := range []string{"Connection", "X-Secret-Hop", "Trailer"} {
		if _, ok := h[k]; ok {
			t.Errorf("%s reached the shop: %v", k, h[k])
		}
	}
	if h.Get(HeaderAmount) != "1234" || h.Get(HeaderStatus) != "paid" || h.Get("X-Kept") != "yes" {
		t.Fatalf("headers %v", h)
	}
}

// rawProvider is fakeProvider with the signed fields of a form and of a
// nested JSON document.
type rawProvider struct{ fakeProvider }

func (r *rawProvider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	v, err := r.fakeProvider.VerifyNotify(req)
	if err == nil {
		v.Notification.Raw = map[string]any{"total_amount": "12.34", "Out_Trade_No": "o",
			"amount": map[string]any{"total": 1234}, "list": []any{map[string]any{"fee": 1}}}
	}
	return v, err
}

// Issue 10 item 7: "?total.amount=99999" beside a signed body reached the
// shop, and PHP reads it as total_amount.
func TestQueryCannotShadowSignedFields(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.Provider = &rawProvider{} })
	for _, c := range []struct {
		query string
		code  reason.Code
	}{
		{"total.amount=99999", reason.Malformed},
		{"Total_Amount=1", reason.Malformed},
		{"total%20amount=1", reason.Malformed},
		{"total+amount=1", reason.Malformed},
		{"total[amount=1", reason.Malformed},
		{"total_amount[]=1", reason.Malformed},
		{"out.trade.no=x", reason.Malformed},
		{"amount[total]=1", reason.Malformed},
		{"TOTAL=1", reason.Malformed}, // nested fields count too
		{"fee=1", reason.Malformed},
		{"x=1&total_amount=2", reason.Malformed},
		{"bad%zz=1", reason.Malformed},
		{"route=alipay&shop=1", reason.Forwarded},
		{"", reason.Forwarded},
	} {
		in := post(msg("q-"+c.query, "o", "t", 1))
		in.RawQuery = c.query
		s := &shop{}
		res := p.Handle(context.Background(), in, s.forward)
		if res.Code != c.code || (c.code != reason.Forwarded && s.count() != 0) {
			t.Errorf("?%s: %s (%v), shop %d; want %s", c.query, res.Code, res.Err, s.count(), c.code)
		}
	}
	// Where the query is the signed message (a GET route), it is the
	// provider's to judge.
	p, _ = newPipeline(t, func(c *Config) {
		c.Provider = &rawProvider{fakeProvider{traits: provider.Traits{Method: http.MethodGet, Passthrough: true}}}
	})
	in := post(msg("get", "o", "t", 1))
	in.Method, in.RawQuery = http.MethodGet, "total_amount=12.34"
	if res := p.Handle(context.Background(), in, (&shop{}).forward); res.Code != reason.Forwarded {
		t.Fatalf("GET route: %s %v", res.Code, res.Err)
	}
}

func FuzzCheckQueryShadowing(f *testing.F) {
	for _, s := range []string{"total.amount=1", "a[b]=c", "%zz", "&&=", "x=1&y"} {
		f.Add(s)
	}
	signed := map[string]any{"total_amount": "1", "amount": map[string]any{"total": 1}}
	f.Fuzz(func(t *testing.T, q string) {
		_ = checkQueryShadowing(q, signed)
	})
}

// A CGI or FastCGI shop (PHP's $_SERVER) reads "Payguard_Amount" as the
// same HTTP_PAYGUARD_AMOUNT as payguard's Payguard-Amount: every case and
// underscore spelling goes, and with upstream_secret so do the sender's
// spellings of the Webhook-* headers payguard signs with.
func TestHeaderVariantsStripped(t *testing.T) {
	p, _ := newPipeline(t, func(c *Config) { c.UpstreamSecrets = [][]byte{[]byte("0123456789abcdef")} })
	s := &shop{}
	in := post(msg("variants", "o", "t", 1234))
	for _, k := range []string{"Payguard_Amount", "payguard_status", "PAYGUARD-QUERY", "Webhook_Signature", "webhook_id"} {
		in.Header[k] = []string{"forged"}
	}
	in.Header["Payguard"] = []string{"kept: no prefix"}
	expect(t, p.Handle(context.Background(), in, s.forward), 200, reason.Forwarded)
	for k, v := range s.got[0].Header {
		for _, x := range v {
			if x == "forged" {
				t.Errorf("%s: forged value reached the shop", k)
			}
		}
	}
	if s.got[0].Header.Get("Payguard") == "" || s.got[0].Header.Get("Webhook-Signature") == "" {
		t.Fatalf("headers %v", s.got[0].Header)
	}
}
