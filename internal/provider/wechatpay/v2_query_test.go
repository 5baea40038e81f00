package wechatpay

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

func v2QueryAnswer(outTradeNo string) map[string]string {
	return map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": testAppID, "mch_id": "10000100",
		"nonce_str": "ICA0ZtZ8UpTZBbTW", "result_code": "SUCCESS", "openid": "oUpF8uN95-Ptaags6E_roPHg7AG0",
		"is_subscribe": "Y", "trade_type": "JSAPI", "bank_type": "CCB_DEBIT", "total_fee": "1234",
		"fee_type": "CNY", "transaction_id": "1008450740201411110005820873", "out_trade_no": outTradeNo,
		"attach": "", "time_end": "20141111170043", "trade_state": "SUCCESS", "cash_fee": "1234",
	}
}

func TestV2QueryOrder(t *testing.T) {
	for _, st := range []string{SignTypeMD5, SignTypeHMACSHA256} {
		t.Run(st, func(t *testing.T) { testV2QueryOrder(t, st) })
	}
}

func testV2QueryOrder(t *testing.T, signType string) {
	s := &V2Signer{APIKey: []byte(testV2Key), SignType: signType}
	forger := &V2Signer{APIKey: []byte("ffffffffffffffffffffffffffffffff"), SignType: signType}
	weaker := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeMD5}
	answerWith := func(mut func(f map[string]string)) func(otn string) []byte {
		return func(otn string) []byte {
			f := v2QueryAnswer(otn)
			mut(f)
			return s.SignResponse(f)
		}
	}
	cases := []struct {
		name   string
		answer func(otn string) []byte // nil: see status
		status int
		slow   bool
		code   reason.Code
		want   notification.Status
	}{
		{name: "signed answer", answer: answerWith(func(map[string]string) {}), want: notification.StatusPaid},
		{name: "refunded", answer: answerWith(func(f map[string]string) { f["trade_state"] = "REFUND" }), want: notification.StatusRefunded},
		{name: "not paid", answer: answerWith(func(f map[string]string) { f["trade_state"] = "NOTPAY"; delete(f, "total_fee") }), want: notification.StatusPending},
		{name: "forged", answer: func(otn string) []byte { return forger.SignResponse(v2QueryAnswer(otn)) }, code: reason.QueryUnavailable},
		{name: "unsigned", answer: func(otn string) []byte { return renderXML("xml", v2QueryAnswer(otn)) }, code: reason.QueryUnavailable},
		{name: "tampered amount", answer: func(otn string) []byte {
			return []byte(strings.Replace(string(s.SignResponse(v2QueryAnswer(otn))), "[1234]", "[1]", 1))
		}, code: reason.QueryUnavailable},
		{name: "return_code FAIL", answer: func(string) []byte {
			return renderXML("xml", map[string]string{"return_code": "FAIL", "return_msg": "签名错误"})
		}, code: reason.QueryUnavailable},
		{name: "order does not exist", answer: answerWith(func(f map[string]string) {
			f["result_code"], f["err_code"], f["err_code_des"] = "FAIL", "ORDERNOTEXIST", "此交易订单号不存在"
		}), code: reason.QueryMismatch},
		{name: "unsigned order does not exist", answer: func(otn string) []byte {
			return renderXML("xml", map[string]string{"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "ORDERNOTEXIST",
				"appid": testAppID, "mch_id": "10000100"})
		}, code: reason.QueryUnavailable},
		{name: "system error", answer: answerWith(func(f map[string]string) { f["result_code"], f["err_code"] = "FAIL", "SYSTEMERROR" }), code: reason.QueryUnavailable},
		{name: "another order", answer: func(string) []byte { return s.SignResponse(v2QueryAnswer("OTHER")) }, code: reason.QueryMismatch},
		{name: "another merchant", answer: answerWith(func(f map[string]string) { f["mch_id"] = "10000199" }), code: reason.QueryMismatch},
		{name: "non-integer total_fee", answer: answerWith(func(f map[string]string) { f["total_fee"] = "12.34" }), code: reason.QueryUnavailable},
		{name: "no trade_state", answer: answerWith(func(f map[string]string) { delete(f, "trade_state") }), code: reason.QueryUnavailable},
		{name: "HTTP 500", status: 500, code: reason.QueryUnavailable},
		{name: "slow", slow: true, code: reason.QueryUnavailable},
		{name: "not XML", answer: func(string) []byte { return []byte("<html>502 Bad Gateway</html>") }, code: reason.QueryUnavailable},
		{name: "XXE answer", answer: func(otn string) []byte {
			return append([]byte(`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>`), s.SignResponse(v2QueryAnswer(otn))...)
		}, code: reason.QueryUnavailable},
	}
	if signType == SignTypeHMACSHA256 {
		cases = append(cases, struct {
			name   string
			answer func(otn string) []byte
			status int
			slow   bool
			code   reason.Code
			want   notification.Status
		}{name: "downgraded answer", answer: func(otn string) []byte {
			f := v2QueryAnswer(otn)
			f["sign_type"] = SignTypeMD5
			return weaker.SignResponse(f)
		}, code: reason.QueryUnavailable})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				f, err := s.VerifyRequest(body)
				if err != nil || r.Method != http.MethodPost || r.URL.Path != "/pay/orderquery" {
					t.Errorf("request %s %s: %v", r.Method, r.URL.Path, err)
				}
				if f["appid"] != testAppID || f["mch_id"] != "10000100" || f["sign_type"] != signType || len(f["nonce_str"]) != 32 {
					t.Errorf("request fields %v", f)
				}
				switch {
				case c.slow:
					select {
					case <-r.Context().Done():
					case <-time.After(3 * time.Second):
					}
				case c.status != 0:
					w.WriteHeader(c.status)
				default:
					w.Header().Set("Content-Type", "text/plain")
					w.Write(c.answer(f["out_trade_no"]))
				}
			}))
			defer srv.Close()
			p := newV2(t, signType, func(cfg *V2Config) {
				cfg.Endpoint = srv.URL + "/pay/orderquery"
				cfg.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond}
			})
			res, err := p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "1415757673"})
			if c.code != "" {
				if res != nil {
					t.Fatalf("result %+v", res)
				}
				wantReason(t, err, c.code, nil, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.want || res.OutTradeNo != "1415757673" || res.Currency != "CNY" || res.Merchant != "10000100" {
				t.Fatalf("%+v", res)
			}
			if c.want == notification.StatusPaid && (res.Amount != 1234 || res.TransactionID != "1008450740201411110005820873") {
				t.Fatalf("%+v", res)
			}
			if _, has := res.Raw["sign"]; has {
				t.Fatal("sign in Raw")
			}
		})
	}
	p := newV2(t, signType)
	_, err := p.QueryOrder(context.Background(), &notification.Notification{})
	wantReason(t, err, reason.QueryMismatch, nil, "out_trade_no")
}

func TestV2SignerVerifyRequest(t *testing.T) {
	s := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeHMACSHA256}
	body := s.SignNotify(map[string]string{"appid": "a", "mch_id": "m", "out_trade_no": "o", "nonce_str": "n", "sign_type": SignTypeHMACSHA256})
	if _, err := s.VerifyRequest(body); err != nil {
		t.Fatal(err)
	}
	md5s := &V2Signer{APIKey: []byte(testV2Key)}
	if _, err := s.VerifyRequest(md5s.SignNotify(map[string]string{"appid": "a"})); err == nil {
		t.Fatal("MD5 request accepted by an HMAC signer")
	}
	if _, err := s.VerifyRequest([]byte("<xml><a>1</a><a>2</a></xml>")); err == nil {
		t.Fatal("bad XML accepted")
	}
}
