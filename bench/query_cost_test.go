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
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/cpuclock"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/alipay"
)

// cannedGateway answers every request with one pre-signed gateway answer,
// in the calling goroutine: what is measured is payguard's side of a query
// alone (build and sign the request, read and verify the answer), not a
// gateway's nor the network's.
type cannedGateway struct{ answer []byte }

func (g cannedGateway) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json;charset=utf-8"}},
		Body:          io.NopCloser(bytes.NewReader(g.answer)),
		ContentLength: int64(len(g.answer)),
		Request:       r,
	}, nil
}

// cannedQuery is an Alipay provider whose query goes to a cannedGateway
// holding a real-shaped alipay.trade.query success answer, and a
// notification that answer confirms.
func cannedQuery(b *testing.B) (*alipay.Provider, *notification.Notification) {
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	resp := `{"code":"10000","msg":"Success","buyer_logon_id":"buy***@example.com","buyer_pay_amount":"12.34",` +
		`"buyer_user_id":"2088102177846880","buyer_user_type":"PRIVATE",` +
		`"fund_bill_list":[{"amount":"12.34","fund_channel":"ALIPAYACCOUNT"}],"gmt_payment":"2026-03-04 13:06:05",` +
		`"invoice_amount":"12.34","out_trade_no":"bench-canned-order","point_amount":"0.00","receipt_amount":"12.34",` +
		`"send_pay_date":"2026-03-04 13:06:05","total_amount":"12.34","trade_no":"2026030422001400000000000001","trade_status":"TRADE_SUCCESS"}`
	answer, err := (&alipay.Signer{Key: key}).SignResponse(alipay.QueryMethod, []byte(resp))
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(appKey)
	prov, err := alipay.New(alipay.Config{AppID: appID, PublicKey: pubPEM,
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		Endpoint:   "https://openapi.alipay.com/gateway.do",
		HTTPClient: provider.NewHTTPClientOver(cannedGateway{answer: answer}, 3*time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	n := &notification.Notification{OutTradeNo: "bench-canned-order", TransactionID: "2026030422001400000000000001",
		Status: notification.StatusPaid, Amount: 1234, Currency: "CNY"}
	return prov, n
}

// BenchmarkAlipayQueryCost is payguard's own CPU per reverse query beside
// the RSA-2048 signature it must make:
//   - ratio runs QueryOrder (against cannedGateway) and one bare
//     rsa.SignPKCS1v15 interleaved one for one, each timed in the CPU
//     time of its own thread, and reports query-µs, sign-µs and their
//     ratio; what is above 1 is the query's work that is not its
//     signature (the answer's RSA verify, about 0.03, included);
//   - query runs QueryOrder alone, for its allocations and profiles.
func BenchmarkAlipayQueryCost(b *testing.B) {
	setup(b)
	prov, n := cannedQuery(b)
	query := func() {
		if _, err := prov.QueryOrder(context.Background(), n); err != nil {
			b.Fatal(err)
		}
	}
	query()
	signKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg := []byte("app_id=" + appID + "&biz_content={\"out_trade_no\":\"bench-canned-order\"}&timestamp=" + strconv.Itoa(2026))
	sign := func() {
		d := sha256.Sum256(msg)
		if _, err := rsa.SignPKCS1v15(rand.Reader, signKey, crypto.SHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ratio", func(b *testing.B) {
		if _, ok := cpuclock.Thread(); !ok {
			b.Skip("no thread CPU clock on this system")
		}
		allocs := testing.AllocsPerRun(50, query)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var tq, ts time.Duration
		for b.Loop() {
			t0, _ := cpuclock.Thread()
			query()
			t1, _ := cpuclock.Thread()
			sign()
			t2, _ := cpuclock.Thread()
			tq += t1 - t0
			ts += t2 - t1
		}
		nf := float64(b.N)
		b.ReportMetric(tq.Seconds()*1e6/nf, "query-µs")
		b.ReportMetric(ts.Seconds()*1e6/nf, "sign-µs")
		b.ReportMetric((tq-ts).Seconds()*1e6/nf, "nonsign-µs")
		b.ReportMetric(float64(tq)/float64(ts), "ratio")
		b.ReportMetric(allocs, "query-allocs")
	})
	b.Run("query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			query()
		}
	})
}
