package orderlookup

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

func lookupAt(t *testing.T, h http.HandlerFunc, timeout time.Duration) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/orders/{out_trade_no}?token=s3cret", timeout)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestLookupAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		code   reason.Code // "" = success
		detail string
	}{
		{"match", 200, `{"amount":1234,"currency":"CNY","status":"unpaid"}`, "", ""},
		{"only amount", 200, `{"amount":1234}`, "", ""},
		{"missing", 404, `not found`, reason.OrderMismatch, "no order"},
		{"server error", 500, `{"amount":1234}`, reason.QueryUnavailable, "answered 500"},
		{"other status", 204, ``, reason.QueryUnavailable, "answered 204"},
		{"not JSON", 200, `<html>`, reason.QueryUnavailable, "not the order JSON"},
		{"empty", 200, ``, reason.QueryUnavailable, "not the order JSON"},
		{"no amount", 200, `{"currency":"CNY"}`, reason.QueryUnavailable, "no amount"},
		{"null", 200, `null`, reason.QueryUnavailable, "no amount"},
		{"fractional amount", 200, `{"amount":12.34}`, reason.QueryUnavailable, "not the order JSON"},
		{"string amount", 200, `{"amount":"1234"}`, reason.QueryUnavailable, "not the order JSON"},
		{"trailing data", 200, `{"amount":1}{"amount":2}`, reason.QueryUnavailable, "after the JSON"},
		{"too large", 200, `{"amount":1234,"pad":"` + strings.Repeat("x", MaxAnswer) + `"}`, reason.QueryUnavailable, "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, _ := lookupAt(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}, time.Second)
			o, err := cl.LookupOrder(context.Background(), "o-1")
			if c.code == "" {
				if err != nil || o.Amount != 1234 {
					t.Fatalf("got %+v, %v", o, err)
				}
				return
			}
			if got := reason.CodeOf(err, ""); got != c.code || !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("got %v (%s); want %s saying %q", err, got, c.code, c.detail)
			}
		})
	}
}

func TestLookupRequest(t *testing.T) {
	var got *http.Request
	cl, _ := lookupAt(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		_, _ = w.Write([]byte(`{"amount":5,"currency":"JPY","status":"paid"}`))
	}, time.Second)
	o, err := cl.LookupOrder(context.Background(), "a/b?c=1#d")
	if err != nil {
		t.Fatal(err)
	}
	if o.Amount != 5 || o.Currency != "JPY" || o.Status != "paid" {
		t.Errorf("order %+v", o)
	}
	// The order number is one escaped path segment: it adds no segment,
	// no query and no fragment.
	if got.Method != http.MethodGet || got.URL.EscapedPath() != "/orders/a%2Fb%3Fc=1%23d" || got.URL.RawQuery != "token=s3cret" {
		t.Errorf("request %s %s ? %s", got.Method, got.URL.EscapedPath(), got.URL.RawQuery)
	}
	if _, err := cl.LookupOrder(context.Background(), ""); reason.CodeOf(err, "") != reason.OrderMismatch {
		t.Errorf("empty order number: %v", err)
	}
}

func TestLookupNeverFollowsRedirects(t *testing.T) {
	followed := false
	cl, srv := lookupAt(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
			_, _ = w.Write([]byte(`{"amount":1234}`))
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}, time.Second)
	_ = srv
	_, err := cl.LookupOrder(context.Background(), "o-1")
	if reason.CodeOf(err, "") != reason.QueryUnavailable || !strings.Contains(err.Error(), "redirect") || followed {
		t.Fatalf("got %v, followed %v", err, followed)
	}
}

func TestLookupSlowAndUnreachable(t *testing.T) {
	cl, _ := lookupAt(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers: the lookup's own timeout ends it
	}, 100*time.Millisecond)
	start := time.Now()
	_, err := cl.LookupOrder(context.Background(), "o-1")
	if reason.CodeOf(err, "") != reason.QueryUnavailable {
		t.Fatalf("slow: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the timeout took %s", d)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error repeats the URL's token: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down, err := New("http://"+addr+"/orders/{out_trade_no}?token=s3cret", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = down.LookupOrder(context.Background(), "o-1")
	if reason.CodeOf(err, "") != reason.QueryUnavailable || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unreachable: %v", err)
	}
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("not a reason.Error: %T", err)
	}
}

func TestCheckURL(t *testing.T) {
	for _, bad := range []string{
		"http://shop/orders",            // no placeholder
		"/orders/{out_trade_no}",        // not absolute
		"ftp://shop/{out_trade_no}",     // not http
		"http://%zz/{out_trade_no}",     // not a URL
		"http:///orders/{out_trade_no}", // no host
	} {
		if _, err := New(bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	c, err := New("https://shop.example/api/orders/{out_trade_no}", 0)
	if err != nil || c.timeout != DefaultTimeout {
		t.Fatalf("%v, timeout %v", err, c.timeout)
	}
}

// As configured, a template with other placeholders waits for them to be
// resolved; one without is checked now.
func TestCheckConfigured(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		"{env.SHOP}/orders/{out_trade_no}":         true,
		"https://shop.example/o/{out_trade_no}":    true,
		"/orders/{out_trade_no}":                   false,
		"{env.SHOP}/orders":                        false, // no {out_trade_no}, whatever SHOP is
		"https://shop.example/o/{out_trade_no}{x}": true,
	} {
		if err := CheckConfigured(tmpl); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", tmpl, err, ok)
		}
	}
}
