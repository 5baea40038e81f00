// Package bench measures payguard against plain Caddy reverse_proxy in the
// same run: the figures that matter are ratios, not absolute times, which
// change with the machine. Run:
//
//	go test ./bench -run '^$' -bench . -benchtime 2000x
package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/payguard/payguard/caddymodule"
	"github.com/payguard/payguard/internal/cpuclock"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/sim"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/store/redistest"
)

const appID = "2021000000000001"

var (
	setupOnce sync.Once
	key       *rsa.PrivateKey
	pubPEM    []byte
	base      string
)

// setup starts one Caddy with a plain reverse_proxy route and a payguard
// route in front of the same upstream.
func setup(b *testing.B) {
	setupOnce.Do(func() {
		var err error
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		dir, _ := os.MkdirTemp("", "payguard-bench-")
		keyFile := filepath.Join(dir, "alipay_public.pem")
		os.WriteFile(keyFile, pubPEM, 0o600)
		shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "success") // a legacy Alipay handler's acceptance
		}))
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cf := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	log {
		output discard
	}
}
http://127.0.0.1:%d {
	handle /plain {
		reverse_proxy %[2]s
	}
	handle /alipay {
		payguard alipay {
			app_id %[3]s
			public_key_file %[4]s
		}
		reverse_proxy %[2]s
	}
	handle /alipay-policies {
		payguard alipay {
			app_id %[3]s
			public_key_file %[4]s
%[5]s
		}
		reverse_proxy %[2]s
	}
}
`, port, strings.TrimPrefix(shop.URL, "http://"), appID, keyFile, policyLines())
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
		if err != nil {
			panic(err)
		}
		if err := caddy.Load(cfg, true); err != nil {
			panic(err)
		}
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
	})
	if base == "" {
		b.Fatal("setup failed")
	}
}

// notifications signs n distinct notifications (signing is the provider's
// cost, not payguard's, so it happens before the timer).
func notifications(b *testing.B, n int) [][]byte {
	s := &alipay.Signer{Key: key}
	out := make([][]byte, n)
	now := time.Now()
	for i := range out {
		p := alipay.SampleNotifyParams(appID, "bench-"+strconv.Itoa(i)+"-"+strconv.FormatInt(now.UnixNano(), 36), "12.34", now)
		body, err := s.SignNotify(p)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = body
	}
	return out
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

func post(b *testing.B, path string, body []byte, wantReason string) {
	resp, err := client.Post(base+path, "application/x-www-form-urlencoded", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Payguard-Reason") != wantReason {
		b.Fatalf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Payguard-Reason"))
	}
}

func benchPlain(b *testing.B, bodies [][]byte) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post(b, "/plain", bodies[i%len(bodies)], "")
	}
}

func benchAlipay(b *testing.B, bodies [][]byte) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post(b, "/alipay", bodies[i], "forwarded")
	}
}

// BenchmarkPlainReverseProxy is the baseline: the same form body through
// Caddy's reverse_proxy alone.
func BenchmarkPlainReverseProxy(b *testing.B) {
	setup(b)
	benchPlain(b, notifications(b, 16))
}

// BenchmarkAlipayNotification is one new, valid notification through
// payguard (memory store, no query) and reverse_proxy, over HTTP.
func BenchmarkAlipayNotification(b *testing.B) {
	setup(b)
	benchAlipay(b, notifications(b, b.N))
}

// BenchmarkAlipayRatio times plain reverse_proxy and payguard over the
// same number of requests, interleaved in rounds so both see the same
// machine, and reports payguard's cost as a multiple of the plain proxy's.
// (testing.Benchmark cannot be nested in a running benchmark.)
func BenchmarkAlipayRatio(b *testing.B) {
	setup(b)
	const rounds, perRound = 10, 100
	plainBodies := notifications(b, 16)
	var plain, guarded time.Duration
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			b.StopTimer()
			fresh := notifications(b, perRound)
			b.StartTimer()
			t0 := time.Now()
			for k := 0; k < perRound; k++ {
				post(b, "/plain", plainBodies[k%len(plainBodies)], "")
			}
			t1 := time.Now()
			for k := 0; k < perRound; k++ {
				post(b, "/alipay", fresh[k], "forwarded")
			}
			plain += t1.Sub(t0)
			guarded += time.Since(t1)
		}
	}
	n := float64(b.N * rounds * perRound)
	b.ReportMetric(float64(plain.Nanoseconds())/n, "plain-ns/req")
	b.ReportMetric(float64(guarded.Nanoseconds())/n, "payguard-ns/req")
	b.ReportMetric(float64(guarded)/float64(plain), "ratio")
}

// BenchmarkPipelineAlipay is one notification through the pipeline in
// process (memory store, a forwarder that accepts at once): payguard's own
// cost without HTTP.
func BenchmarkPipelineAlipay(b *testing.B) {
	st := store.NewMemory("")
	defer st.Close()
	benchPipeline(b, st)
}

// BenchmarkPipelineAlipayNoAudit is the same on a route without an audit
// sink (the handler then sets SkipAudit): no masked copy of the body.
func BenchmarkPipelineAlipayNoAudit(b *testing.B) {
	st := store.NewMemory("")
	defer st.Close()
	benchPipelineWith(b, st, func(c *pipeline.Config) { c.SkipAudit = true })
}

// BenchmarkPipelineAlipayRedis is the same on a Redis store (a
// redis-server of the benchmark's own): it reports the Redis commands per
// notification and the process's CPU per notification, which counts the
// client's side of every round trip (the server is another process).
func BenchmarkPipelineAlipayRedis(b *testing.B) {
	client, cmds := redistest.Start(b).CountedClient()
	st := store.NewRedis(client, "payguard:")
	defer st.Close()
	benchPipeline(b, st, cmds)
}

func benchPipeline(b *testing.B, st store.Store, cmds ...*redistest.Commands) {
	benchPipelineWith(b, st, nil, cmds...)
}

func benchPipelineWith(b *testing.B, st store.Store, mod func(*pipeline.Config), cmds ...*redistest.Commands) {
	setup(b)
	prov, err := alipay.New(alipay.Config{AppID: appID, PublicKey: pubPEM})
	if err != nil {
		b.Fatal(err)
	}
	cfg := pipeline.Config{Provider: prov, Store: st}
	if mod != nil {
		mod(&cfg)
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	bodies := notifications(b, b.N+1)
	// The legacy handler's word: with forward original Alipay's answer is
	// judged by its body.
	forward := func(context.Context, *pipeline.Outgoing) (pipeline.Answer, error) {
		return pipeline.Answer{Status: 200, Body: []byte("success")}, nil
	}
	ip := netip.MustParseAddr("127.0.0.1")
	one := func(body []byte) {
		res := p.Handle(context.Background(), &pipeline.Incoming{
			Method: "POST", Path: "/alipay", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body: bytes.NewReader(body), ContentLength: int64(len(body)), RemoteIP: ip,
		}, forward)
		if res.Code != "forwarded" {
			b.Fatalf("%s: %v", res.Code, res.Err)
		}
	}
	one(bodies[b.N]) // a Redis server learns the scripts here
	for _, c := range cmds {
		c.Take()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, haveCPU := cpuclock.Process()
	for i := 0; i < b.N; i++ {
		one(bodies[i])
	}
	b.StopTimer()
	if cpu1, _ := cpuclock.Process(); haveCPU {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
	}
	for _, c := range cmds {
		b.ReportMetric(float64(len(c.Take()))/float64(b.N), "redis-cmds/op")
	}
}

// queried builds an Alipay provider whose query goes to the sandbox, and
// the sandbox's order book.
func queried(b *testing.B) (*alipay.Provider, *sim.OrderBook, *sim.Provider, func()) {
	appKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	sb, err := alipay.NewSandbox(alipay.SandboxConfig{Key: key, AppPublicKey: &appKey.PublicKey})
	if err != nil {
		b.Fatal(err)
	}
	simAlipay, err := sim.NewProvider(alipay.Name, sb)
	if err != nil {
		b.Fatal(err)
	}
	book := sim.NewOrderBook()
	srv, err := sim.NewServer(sim.ServerConfig{Book: book, Providers: []*sim.Provider{simAlipay}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	der, _ := x509.MarshalPKCS8PrivateKey(appKey)
	prov, err := alipay.New(alipay.Config{AppID: appID, PublicKey: pubPEM,
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), Endpoint: hs.URL + "/alipay/gateway.do"})
	if err != nil {
		b.Fatal(err)
	}
	return prov, book, simAlipay, hs.Close
}

// BenchmarkAlipayQueryOrder is the reverse query alone against the local
// sandbox: sign the request (one RSA-2048 sign, the floor), HTTP round
// trip, the sandbox's own verify and sign, and verifying its answer.
func BenchmarkAlipayQueryOrder(b *testing.B) {
	setup(b)
	prov, book, simAlipay, stop := queried(b)
	defer stop()
	o := sim.Order{Provider: "alipay", OutTradeNo: "bench-q", AppID: appID, Amount: 1234}
	simAlipay.Prepare(&o, time.Now())
	book.Put(o)
	n := &notification.Notification{OutTradeNo: "bench-q", TransactionID: o.TransactionID}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := prov.QueryOrder(context.Background(), n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSASign2048 is the floor of one query: the RSA-2048 PKCS#1 v1.5
// signature payguard must make.
func BenchmarkRSASign2048(b *testing.B) {
	setup(b)
	digest := sha256.Sum256([]byte("app_id=2021000000000001&biz_content=..."))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelineAlipayQueried is one notification through the pipeline
// with the reverse query on (cache off, so every notification is queried).
func BenchmarkPipelineAlipayQueried(b *testing.B) {
	setup(b)
	prov, book, simAlipay, stop := queried(b)
	defer stop()
	st := store.NewMemory("")
	defer st.Close()
	p, err := pipeline.New(pipeline.Config{Provider: prov, Querier: prov, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		o := sim.Order{Provider: "alipay", OutTradeNo: fmt.Sprintf("bq-%d-%d", i, time.Now().UnixNano()), AppID: appID, Amount: 1234}
		simAlipay.Prepare(&o, time.Now())
		book.Put(o)
		msg, err := simAlipay.BuildNotify(&o, "", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = msg.Body
	}
	forward := func(context.Context, *pipeline.Outgoing) (pipeline.Answer, error) {
		return pipeline.Answer{Status: 200, Body: []byte("success")}, nil
	}
	ip := netip.MustParseAddr("127.0.0.1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := p.Handle(context.Background(), &pipeline.Incoming{
			Method: "POST", Path: "/alipay", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body: bytes.NewReader(bodies[i]), ContentLength: int64(len(bodies[i])), RemoteIP: ip,
		}, forward)
		if res.Code != "forwarded" {
			b.Fatalf("%s: %v", res.Code, res.Err)
		}
	}
}
