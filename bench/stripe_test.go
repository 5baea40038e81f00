package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sim"
)

// BenchmarkStripeNotification is one new Stripe notification (HMAC, the
// cheap kind of signature) through payguard in process over HTTP, memory
// store: what payguard costs around a signature that costs almost
// nothing. Profile it with -cpuprofile; the sandbox keys are the
// repository's examples/keys.
func BenchmarkStripeNotification(b *testing.B) {
	ps, err := sim.Load("../examples/keys", provider.SandboxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	p, ok := sim.Find(ps, "stripe")
	if !ok {
		b.Fatal("no stripe sandbox keys")
	}
	var settings []provider.Setting
	for _, s := range p.Settings("http://127.0.0.1:1") {
		if !s.Query {
			settings = append(settings, s)
		}
	}
	block, err := sim.HandlerBlock("stripe", settings)
	if err != nil {
		b.Fatal(err)
	}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer shop.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cf := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\nhttp://127.0.0.1:%d {\n%s\treverse_proxy %s\n}\n",
		port, block, strings.TrimPrefix(shop.URL, "http://"))
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		b.Fatal(err)
	}
	defer caddy.Stop()
	msgs := make([]*sim.Message, b.N)
	now := time.Now()
	for i := range msgs {
		o := sim.Order{Provider: "stripe", OutTradeNo: fmt.Sprintf("bs-%d-%d", i, now.UnixNano()), Amount: 1234}
		if err := p.Prepare(&o, now); err != nil {
			b.Fatal(err)
		}
		if msgs[i], err = p.BuildNotify(&o, "", now); err != nil {
			b.Fatal(err)
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(msgs[i].Method, url, bytes.NewReader(msgs[i].Body))
		for k, v := range msgs[i].Header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Payguard-Reason") != "forwarded" {
			b.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Payguard-Reason"))
		}
	}
}
