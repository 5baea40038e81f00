package metrics

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/store"
)

// BenchmarkPipelineTelemetry is bench's BenchmarkPipelineAlipay with a
// handler's observer: none, metrics with no request span (no tracing
// directive), and metrics with a recording request span (ten stage spans
// per notification). Run:
//
//	go test ./internal/metrics -run '^$' -bench PipelineTelemetry -benchtime 2000x
func BenchmarkPipelineTelemetry(b *testing.B) {
	const appID = "2021000000000001"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	prov, err := alipay.New(alipay.Config{AppID: appID, PublicKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})})
	if err != nil {
		b.Fatal(err)
	}
	signer := &alipay.Signer{Key: key}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	defer tp.Shutdown(context.Background())

	for _, c := range []struct {
		name string
		tel  *Telemetry
		ctx  func() (context.Context, func())
	}{
		{"none", nil, nil},
		{"metrics", New("alipay"), nil},
		{"metrics+spans", New("alipay"), func() (context.Context, func()) {
			ctx, span := tp.Tracer("bench").Start(context.Background(), "request")
			return ctx, func() { span.End() }
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			st := store.NewMemory("")
			defer st.Close()
			cfg := pipeline.Config{Provider: prov, Store: st}
			if c.tel != nil {
				cfg.Observer = c.tel
			}
			p, err := pipeline.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			bodies := make([][]byte, b.N)
			for i := range bodies {
				params := alipay.SampleNotifyParams(appID, "bench-"+strconv.Itoa(i)+"-"+strconv.FormatInt(now.UnixNano(), 36), "12.34", now)
				if bodies[i], err = signer.SignNotify(params); err != nil {
					b.Fatal(err)
				}
			}
			forward := func(context.Context, *pipeline.Outgoing) (pipeline.Answer, error) {
				return pipeline.Answer{Status: 200, Body: []byte("success")}, nil // Alipay's acknowledgement
			}
			ip := netip.MustParseAddr("127.0.0.1")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx, end := context.Background(), func() {}
				if c.ctx != nil {
					ctx, end = c.ctx()
				}
				res := p.Handle(ctx, &pipeline.Incoming{
					Method: "POST", Path: "/alipay", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
					Body: bytes.NewReader(bodies[i]), ContentLength: int64(len(bodies[i])), RemoteIP: ip,
				}, forward)
				end()
				if c.tel != nil {
					c.tel.NotificationDone(res)
				}
				if res.Code != "forwarded" {
					b.Fatalf("%s: %v", res.Code, res.Err)
				}
			}
		})
	}
}
