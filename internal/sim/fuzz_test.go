package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzDecodeOrder: the control API's order parser and every provider's
// Prepare never panic, and an accepted order survives the JSON round trip
// the CLI and the sandbox put it through.
func FuzzDecodeOrder(f *testing.F) {
	for _, s := range []string{
		`{"provider":"alipay","out_trade_no":"A-1","amount":1234}`,
		`{"provider":"wechatpay_v3","out_trade_no":"W","amount":1,"query_amount":0,"query_status":"NOTPAY"}`,
		`{"provider":"wechatpay_v2","out_trade_no":"W","amount":1,"event_id":"x"}`,
		`{"provider":"alipay","out_trade_no":"A","amount":1,"paid_at":"2026-01-02T03:04:05Z"}`,
		`{"provider":"alipay","out_trade_no":"A","amount":1,"paid_at":"not a time"}`,
		`{"amount":1e9}`, `null`, `[]`, `{"x":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	ps := testKeys(f)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOrder(b)
		if err != nil {
			return
		}
		for _, p := range ps {
			o := o
			if p.Prepare(&o, now) != nil {
				continue
			}
			again := o
			if err := p.Prepare(&again, now); err != nil || again != o {
				t.Fatalf("Prepare not idempotent: %+v then %+v (%v)", o, again, err)
			}
			enc, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeOrder(enc)
			if err != nil || !back.PaidAt.Equal(o.PaidAt) {
				t.Fatalf("round trip: %v", err)
			}
			back.PaidAt = o.PaidAt
			if back != o {
				t.Fatalf("round trip changed %+v into %+v", o, back)
			}
		}
	})
}

// FuzzServer: whatever is posted to the sandbox's query and control APIs,
// it never panics, and the Alipay gateway never confirms an order for an
// unsigned request.
func FuzzServer(f *testing.F) {
	f.Add("/alipay/gateway.do", []byte("app_id=2021000000000001&method=alipay.trade.query&sign_type=RSA2&sign=AAAA&biz_content=%7B%22out_trade_no%22%3A%22F%22%7D"))
	f.Add("/alipay/gateway.do", []byte("a=%zz"))
	f.Add("/_sim/orders", []byte(`{"provider":"alipay","out_trade_no":"F","amount":1}`))
	f.Add("/wechatpay/v2/pay/orderquery", []byte("<xml><appid>x</appid><sign>AA</sign></xml>"))
	f.Add("/wechatpay/v2/pay/orderquery", []byte("<!DOCTYPE x><xml/>"))
	ps := testKeys(f)
	srv, err := NewServer(ServerConfig{Providers: ps})
	if err != nil {
		f.Fatal(err)
	}
	srv.Book().Put(Order{Provider: "alipay", OutTradeNo: "F", AppID: "2021000000000001", Amount: 100, QueryAmount: 100, Currency: "CNY", Status: "TRADE_SUCCESS", QueryStatus: "TRADE_SUCCESS"})
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		if len(path) == 0 || path[0] != '/' {
			return
		}
		req, err := http.NewRequest(http.MethodPost, "http://sandbox"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if req.URL.Path == "/alipay/gateway.do" && bytes.Contains(rec.Body.Bytes(), []byte(`"code":"10000"`)) {
			t.Fatalf("gateway confirmed an order for an unsigned request: %s", rec.Body.Bytes())
		}
	})
}
