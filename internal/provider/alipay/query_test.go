package alipay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// gateway is a fake Alipay gateway: it checks each request as Alipay would
// (VerifyQueryRequest with the app key) and answers with answer(params).
type gateway struct {
	t      *testing.T
	answer func(params map[string]string, w http.ResponseWriter)
	last   atomic.Pointer[map[string]string]
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		http.Error(w, "bad request", 400)
		return
	}
	params, err := VerifyQueryRequest(body, &appKey.PublicKey)
	if err != nil {
		g.t.Errorf("gateway: %v", err)
		http.Error(w, "bad signature", 400)
		return
	}
	g.last.Store(&params)
	g.answer(params, w)
}

func signedAnswer(t testing.TB, s *Signer, response string) []byte {
	t.Helper()
	b, err := s.SignResponse(QueryMethod, []byte(response))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func queryProvider(t testing.TB, endpoint string, mut func(*Config)) *Provider {
	return newProvider(t, func(c *Config) {
		c.PrivateKey = providertest.PrivatePEM(t, appKey)
		c.Endpoint = endpoint
		c.Now = fixedClock(testNow)
		if mut != nil {
			mut(c)
		}
	})
}

func TestQueryOrder(t *testing.T) {
	testKeys(t)
	good := `{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","buyer_pay_amount":"12.34","out_trade_no":"order-1","send_pay_date":"2026-03-04 13:06:05","total_amount":"12.34","trade_no":"2026030422001400000000000001","trade_status":"TRADE_SUCCESS","store_name":"a\/b \"}{\" \u0041"}`
	cases := []struct {
		name   string
		answer func(t *testing.T, w http.ResponseWriter)
		ctx    func() (context.Context, context.CancelFunc)
		want   reason.Code // "" = success
		check  func(t *testing.T, r *provider.QueryResult)
	}{
		{name: "paid", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, good))
		}, check: func(t *testing.T, r *provider.QueryResult) {
			if r.Status != notification.StatusPaid || r.Amount != 1234 || r.Currency != "CNY" || r.OutTradeNo != "order-1" ||
				r.TransactionID != "2026030422001400000000000001" || r.Merchant != testAppID {
				t.Fatalf("%+v", *r)
			}
			if r.Raw["store_name"] != `a/b "}{" A` {
				t.Fatalf("raw %v", r.Raw["store_name"])
			}
		}},
		{name: "closed", answer: func(t *testing.T, w http.ResponseWriter) {
			// Unpaid and timed out: no send_pay_date (query_confirm_test.go
			// has the trade closed by a full refund).
			unpaid := strings.Replace(good, `"send_pay_date":"2026-03-04 13:06:05",`, "", 1)
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, strings.Replace(unpaid, "TRADE_SUCCESS", "TRADE_CLOSED", 1)))
		}, check: func(t *testing.T, r *provider.QueryResult) {
			if r.Status != notification.StatusClosed {
				t.Fatal(r.Status)
			}
		}},
		{name: "pretty-printed body around the signed value", answer: func(t *testing.T, w http.ResponseWriter) {
			b := signedAnswer(t, &Signer{Key: alipayKey}, good)
			s := strings.Replace(string(b), `{"alipay_trade_query_response":`, "{\n  \"alipay_trade_query_response\" : ", 1)
			_, _ = w.Write([]byte(strings.Replace(s, `,"sign":`, ",\n  \"sign\":\t", 1) + "\n"))
		}},
		{name: "order unknown", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在","buyer_pay_amount":"0.00","invoice_amount":"0.00","out_trade_no":"order-1","point_amount":"0.00","receipt_amount":"0.00"}`))
		}, want: reason.QueryMismatch},
		{name: "other business error", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, `{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}`))
		}, want: reason.QueryUnavailable},
		{name: "40004 with another sub_code", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, `{"code":"40004","sub_code":"ACQ.SYSTEM_ERROR"}`))
		}, want: reason.QueryUnavailable},
		{name: "forged by another key", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write(signedAnswer(t, &Signer{Key: otherKey}, good))
		}, want: reason.QueryUnavailable},
		{name: "unsigned", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"alipay_trade_query_response":` + good + `}`))
		}, want: reason.QueryUnavailable},
		{name: "unsigned order unknown is not believed", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"alipay_trade_query_response":{"code":"40004","sub_code":"ACQ.TRADE_NOT_EXIST"}}`))
		}, want: reason.QueryUnavailable},
		{name: "amount edited after signing", answer: func(t *testing.T, w http.ResponseWriter) {
			b := signedAnswer(t, &Signer{Key: alipayKey}, good)
			_, _ = w.Write([]byte(strings.Replace(string(b), `"total_amount":"12.34"`, `"total_amount":"99.99"`, 1)))
		}, want: reason.QueryUnavailable},
		{name: "response member twice", answer: func(t *testing.T, w http.ResponseWriter) {
			b := signedAnswer(t, &Signer{Key: alipayKey}, good)
			_, _ = w.Write([]byte(strings.Replace(string(b), `{"alipay_trade_query_response":`, `{"alipay_trade_query_response":{"code":"10000","total_amount":"99.99"},"alipay_trade_query_response":`, 1)))
		}, want: reason.QueryUnavailable},
		{name: "error_response", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"},"sign":"abc"}`))
		}, want: reason.QueryUnavailable},
		{name: "not JSON", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`<html>502 Bad Gateway</html>`))
		}, want: reason.QueryUnavailable},
		{name: "truncated JSON", answer: func(t *testing.T, w http.ResponseWriter) {
			b := signedAnswer(t, &Signer{Key: alipayKey}, good)
			_, _ = w.Write(b[:len(b)-1])
		}, want: reason.QueryUnavailable},
		{name: "HTTP 502", answer: func(t *testing.T, w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, good))
		}, want: reason.QueryUnavailable},
		{name: "too large", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"x":"` + strings.Repeat("a", maxResponse) + `"}`))
		}, want: reason.QueryUnavailable},
		{name: "signed but amount not a string", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, `{"code":"10000","total_amount":12.34,"trade_status":"TRADE_SUCCESS"}`))
		}, want: reason.QueryUnavailable},
		{name: "signed but amount invalid", answer: func(t *testing.T, w http.ResponseWriter) {
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, `{"code":"10000","total_amount":"1.234","trade_status":"TRADE_SUCCESS"}`))
		}, want: reason.QueryUnavailable},
		{name: "timeout", answer: func(t *testing.T, w http.ResponseWriter) {
			time.Sleep(300 * time.Millisecond)
			_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, good))
		}, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, want: reason.QueryUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &gateway{t: t}
			g.answer = func(params map[string]string, w http.ResponseWriter) { c.answer(t, w) }
			srv := httptest.NewServer(g)
			defer srv.Close()
			p := queryProvider(t, srv.URL, nil)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if c.ctx != nil {
				ctx, cancel = c.ctx()
			}
			defer cancel()
			res, err := p.QueryOrder(ctx, &notification.Notification{OutTradeNo: "order-1", TransactionID: "2026030422001400000000000001"})
			if c.want != "" {
				code(t, err, c.want)
				if len(err.Error()) > 300 {
					t.Fatalf("detail too long: %d bytes", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, res)
			}
			// The request as Alipay sees it.
			params := *g.last.Load()
			want := map[string]string{
				"app_id": testAppID, "method": "alipay.trade.query", "format": "JSON", "charset": "utf-8",
				"sign_type": "RSA2", "version": "1.0", "timestamp": "2026-03-04 13:06:07",
				"biz_content": `{"out_trade_no":"order-1"}`,
			}
			for k, v := range want {
				if params[k] != v {
					t.Errorf("request %s = %q, want %q", k, params[k], v)
				}
			}
			if _, ok := params["app_cert_sn"]; ok {
				t.Error("app_cert_sn in public-key mode")
			}
		})
	}
}

func TestQueryOrderInputs(t *testing.T) {
	p := newProvider(t, nil)
	_, err := p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "x"})
	code(t, err, reason.QueryUnavailable) // no private key
	q := queryProvider(t, "http://127.0.0.1:1/gateway.do", nil)
	_, err = q.QueryOrder(context.Background(), nil)
	code(t, err, reason.QueryUnavailable)
	_, err = q.QueryOrder(context.Background(), &notification.Notification{})
	code(t, err, reason.QueryMismatch)
	// Nothing listens on port 1.
	_, err = q.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "x"})
	code(t, err, reason.QueryUnavailable)
}

func TestQueryByTradeNo(t *testing.T) {
	testKeys(t)
	g := &gateway{t: t}
	g.answer = func(params map[string]string, w http.ResponseWriter) {
		_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, `{"code":"10000","out_trade_no":"o","trade_no":"T1","total_amount":"1.00","trade_status":"TRADE_FINISHED"}`))
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	res, err := queryProvider(t, srv.URL, nil).QueryOrder(context.Background(), &notification.Notification{TransactionID: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != notification.StatusPaid || res.Amount != 100 {
		t.Fatalf("%+v", res)
	}
	if got := (*g.last.Load())["biz_content"]; got != `{"trade_no":"T1"}` {
		t.Fatal(got)
	}
}

func TestQueryCertMode(t *testing.T) {
	k := getPKI(t)
	var sn atomic.Value
	sn.Store(CertSN(k.alipayCert))
	g := &gateway{t: t}
	g.answer = func(params map[string]string, w http.ResponseWriter) {
		_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey, CertSN: sn.Load().(string)}, `{"code":"10000","out_trade_no":"order-1","trade_no":"T","total_amount":"12.34","trade_status":"TRADE_SUCCESS"}`))
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	cfg := certModeConfig(t)
	cfg.Endpoint = srv.URL
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "order-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Amount != 1234 {
		t.Fatal(res.Amount)
	}
	params := *g.last.Load()
	if params["app_cert_sn"] != CertSN(k.appCert) || params["alipay_root_cert_sn"] != p.rootCertSN {
		t.Fatalf("cert SNs in request: %q %q", params["app_cert_sn"], params["alipay_root_cert_sn"])
	}
	// An answer naming another Alipay certificate is refused, never fetched.
	sn.Store("ffffffffffffffffffffffffffffffff")
	_, err = p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "order-1"})
	code(t, err, reason.QueryUnavailable)
}

func TestScanObject(t *testing.T) {
	good := map[string][]string{
		`{}`:                                     nil,
		` {"a" : 1 } `:                           {"a=1"},
		`{"a":{"b":[1,2,{"c":"}"}]},"d":"x\"y"}`: {`a={"b":[1,2,{"c":"}"}]}`, `d="x\"y"`},
		`{"\u0061":-0.5e+3,"b":true,"c":null,"d":false}`: {"a=-0.5e+3", "b=true", "c=null", "d=false"},
		`{"s":"a\/b\\\n\u00e9"}`:                         {`s="a\/b\\\n\u00e9"`},
	}
	for in, want := range good {
		ms, err := scanObject([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.key+"="+string(m.raw))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: %q, want %q", in, got, want)
		}
		if !json.Valid([]byte(in)) {
			t.Fatalf("%s: test input not valid JSON", in)
		}
	}
	for _, in := range []string{
		``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\n\"}", `{"a":tru}`, `{a:1}`, `{"a":[1,]}`, `{"a":{"b"}}`,
		`{"a":"x}`, `{"a":1e}`, `{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	} {
		if _, err := scanObject([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestVerifyResponseShapes(t *testing.T) {
	p := newProvider(t, nil)
	k := ResponseKey(QueryMethod)
	good := signedAnswer(t, &Signer{Key: alipayKey}, `{"code":"10000"}`)
	if raw, err := p.VerifyResponse(good, k); err != nil || string(raw) != `{"code":"10000"}` {
		t.Fatalf("%s %v", raw, err)
	}
	// A signed answer with an alipay_cert_sn is fine in public-key mode.
	withSN := signedAnswer(t, &Signer{Key: alipayKey, CertSN: "0123"}, `{"code":"10000"}`)
	if _, err := p.VerifyResponse(withSN, k); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"sign not a string":    `{"` + k + `":{"code":"10000"},"sign":123}`,
		"sn not a string":      `{"` + k + `":{"code":"10000"},"sign":"YQ==","alipay_cert_sn":[]}`,
		"value not an object":  `{"` + k + `":"{}","sign":"YQ=="}`,
		"sign not base64":      `{"` + k + `":{"code":"10000"},"sign":"***"}`,
		"sign empty":           `{"` + k + `":{"code":"10000"},"sign":""}`,
		"other method":         strings.Replace(string(good), k, "alipay_trade_refund_response", 1),
		"sign repeated":        strings.Replace(string(good), `,"sign":`, `,"sign":"YQ==","sign":`, 1),
		"escaped key is found": strings.Replace(string(good), `"alipay_trade`, `"\u0061lipay_trade`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.VerifyResponse([]byte(body), k)
			if name == "escaped key is found" {
				// JSON-equal key: found, and the signature still covers the value.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			code(t, err, reason.QueryUnavailable)
		})
	}
}
