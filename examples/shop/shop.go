// Package shop is the example legacy shop of the local stack: a handler
// that prints every notification payguard forwards to it and answers as
// the legacy handler of that provider would: Alipay's body "success" (or
// "fail"), WeChat Pay v2's XML return_code SUCCESS (or FAIL), and for
// every other provider the status alone. payguard acknowledges a
// notification to the provider only when that answer says the shop took it.
// It is linked into the payguard binary as the `payguard_example_shop`
// directive only so that `payguard run` can start the whole demo in one
// process; a real shop is your own application behind reverse_proxy.
package shop

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Shop{})
	httpcaddyfile.RegisterHandlerDirective("payguard_example_shop", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		s := new(Shop)
		return s, s.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("payguard_example_shop", httpcaddyfile.Before, "respond")
}

// Shop prints what it receives: the Payguard-* headers and the body.
type Shop struct {
	// Status is the status it answers with; default 200. Set 500 to see
	// payguard refuse to acknowledge and the provider retry.
	Status int `json:"status,omitempty"`

	mu  *sync.Mutex
	out io.Writer
}

// CaddyModule returns the Caddy module information.
func (Shop) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.payguard_example_shop",
		New: func() caddy.Module { return new(Shop) },
	}
}

// Provision sets the output.
func (s *Shop) Provision(caddy.Context) error {
	s.out = os.Stdout
	s.mu = new(sync.Mutex)
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return nil
}

// ServeHTTP prints the notification and answers.
func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n=== example shop received %s %s\n", r.Method, r.URL.RequestURI())
	var names []string
	for k := range r.Header {
		if strings.HasPrefix(k, "Payguard-") || strings.HasPrefix(k, "Webhook-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
	}
	fmt.Fprintf(&b, "body: %s\n===\n", body)
	s.mu.Lock()
	_, _ = io.WriteString(s.out, b.String())
	s.mu.Unlock()
	ct, answer := legacyAnswer(r.Header.Get("Payguard-Provider"), s.Status < 300)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(s.Status)
	_, _ = io.WriteString(w, answer)
	return nil
}

// legacyAnswer is what the legacy notify handler of the provider answers:
// the provider's own format, since the provider read it before payguard
// stood in between. ok is whether the shop took the notification.
func legacyAnswer(provider string, ok bool) (contentType, body string) {
	switch provider {
	case "alipay":
		if ok {
			return "text/plain; charset=utf-8", "success"
		}
		return "text/plain; charset=utf-8", "fail"
	case "wechatpay_v2":
		if ok {
			return "text/xml; charset=utf-8", "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
		}
		return "text/xml; charset=utf-8", "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[order not updated]]></return_msg></xml>"
	}
	if ok {
		return "text/plain; charset=utf-8", "shop: order updated\n"
	}
	return "text/plain; charset=utf-8", "shop: order not updated\n"
}

// UnmarshalCaddyfile: payguard_example_shop [status]
func (s *Shop) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		var n int
		if _, err := fmt.Sscan(d.Val(), &n); err != nil || n < 100 || n > 599 {
			return d.Errf("payguard_example_shop: %q is not a status code", d.Val())
		}
		s.Status = n
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Shop)(nil)
	_ caddyhttp.MiddlewareHandler = (*Shop)(nil)
	_ caddyfile.Unmarshaler       = (*Shop)(nil)
)
