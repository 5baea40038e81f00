package wechatpay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/payguard/payguard/internal/provider"
)

// countingServer counts calls and answers nothing useful: the tests below
// must never reach it.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(500)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// Issue 10 item 2: WeChat v3 refund notices that failed or closed and
// events that are neither payments nor refunds are not the order query's to
// confirm; a successful refund and a payment still are.
func TestV3QueryCannotConfirm(t *testing.T) {
	srv, calls := countingServer(t)
	f := newV3Fixture(t, func(c *V3Config) { c.Endpoint = srv.URL })
	refund := func(status string) map[string]any {
		r := sampleRefund()
		r["refund_status"] = status
		return r
	}
	payscore := map[string]any{"mchid": testMchID, "appid": testAppID, "out_order_no": "PS-1", "state": "DONE"}
	for _, c := range []struct {
		event     string
		res       map[string]any
		cannotAsk bool
	}{
		{"REFUND.ABNORMAL", refund("ABNORMAL"), true},
		{"REFUND.CLOSED", refund("CLOSED"), true},
		{"PAYSCORE.USER_CONFIRM", payscore, true},
		{"REFUND.SUCCESS", refund("SUCCESS"), false},
		{"TRANSACTION.SUCCESS", sampleTransaction(), false},
	} {
		v, err := f.p.VerifyNotify(f.request(t, f.signer, c.event, c.res))
		if err != nil {
			t.Fatalf("%s: %v", c.event, err)
		}
		before := calls.Load()
		_, err = f.p.QueryOrder(context.Background(), &v.Notification)
		asked := calls.Load() > before
		if errors.Is(err, provider.ErrNotQueryable) != c.cannotAsk || asked == c.cannotAsk {
			t.Errorf("%s: err %v, asked %v", c.event, err, asked)
		}
	}
}

// The same for v2 refund notices with refund_status CHANGE or REFUNDCLOSE.
func TestV2QueryCannotConfirm(t *testing.T) {
	srv, calls := countingServer(t)
	p := newV2(t, SignTypeMD5, func(c *V2Config) { c.Endpoint = srv.URL })
	s := &V2Signer{APIKey: []byte(testV2Key)}
	for _, c := range []struct {
		status    string
		cannotAsk bool
	}{{"CHANGE", true}, {"REFUNDCLOSE", true}, {"SUCCESS", false}} {
		info := sampleRefundInfo()
		info["refund_status"] = c.status
		v, err := p.VerifyNotify(v2Req(s.SignRefundNotify(sampleRefundOuter(), info)))
		if err != nil {
			t.Fatalf("%s: %v", c.status, err)
		}
		before := calls.Load()
		_, err = p.QueryOrder(context.Background(), &v.Notification)
		asked := calls.Load() > before
		if errors.Is(err, provider.ErrNotQueryable) != c.cannotAsk || asked == c.cannotAsk {
			t.Errorf("%s: err %v, asked %v", c.status, err, asked)
		}
	}
}
