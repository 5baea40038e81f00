package wechatpay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

// v3QueryAnswer is a Transaction as the query API returns it.
func v3QueryAnswer(outTradeNo string) map[string]any {
	m := sampleTransaction()
	m["out_trade_no"] = outTradeNo
	return m
}

// v3QueryServer answers like the v3 query API after checking the merchant's
// Authorization; answer decides status, body and how it is signed.
func v3QueryServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, outTradeNo string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := VerifyQueryAuthorization(r, &merchKey.PublicKey); err != nil {
			t.Errorf("authorization: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a, _ := ParseV3Authorization(r.Header.Get("Authorization"))
		if a.MchID != testMchID || a.SerialNo == "" || len(a.NonceStr) != 32 || a.Timestamp != strconv.FormatInt(testNow.Unix(), 10) {
			t.Errorf("authorization parameters %+v", a)
		}
		otn, ok := strings.CutPrefix(r.URL.Path, v3QueryPath)
		if !ok || r.Method != http.MethodGet || r.URL.Query().Get("mchid") != testMchID || r.URL.RawQuery != "mchid="+testMchID {
			t.Errorf("request %s %s", r.Method, r.RequestURI)
		}
		answer(w, r, otn)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeSigned writes body signed by s at ts.
func writeSigned(t *testing.T, w http.ResponseWriter, s *V3Signer, status int, body []byte, ts time.Time) {
	h, err := s.SignResponse(body, ts)
	if err != nil {
		t.Error(err)
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func TestV3QueryOrder(t *testing.T) {
	f := newV3Fixture(t)
	forger := &V3Signer{PlatformKey: otherKey, Serial: testSerialHex}
	jsonOf := func(v any) []byte { b, _ := json.Marshal(v); return b }
	notFound := []byte(`{"code":"ORDER_NOT_EXIST","message":"订单不存在"}`)

	cases := []struct {
		name   string
		otn    string
		answer func(w http.ResponseWriter, r *http.Request, otn string)
		client *http.Client
		code   reason.Code // "" = success
	}{
		{"signed answer", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 200, jsonOf(v3QueryAnswer(otn)), testNow)
		}, nil, ""},
		{"signed in public-key mode", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.pubSigner, 200, jsonOf(v3QueryAnswer(otn)), testNow)
		}, nil, ""},
		{"escaped out_trade_no", "A/B C+D%", func(w http.ResponseWriter, r *http.Request, otn string) {
			if r.URL.EscapedPath() != v3QueryPath+"A%2FB%20C+D%25" {
				t.Errorf("path %s", r.URL.EscapedPath())
			}
			writeSigned(t, w, f.signer, 200, jsonOf(v3QueryAnswer("A/B C+D%")), testNow)
		}, nil, ""},
		{"forged answer", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, forger, 200, jsonOf(v3QueryAnswer(otn)), testNow)
		}, nil, reason.QueryUnavailable},
		{"unsigned answer", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			w.Write(jsonOf(v3QueryAnswer(otn)))
		}, nil, reason.QueryUnavailable},
		{"answer signed by an unknown serial", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, &V3Signer{PlatformKey: platformKey, Serial: "FFFF"}, 200, jsonOf(v3QueryAnswer(otn)), testNow)
		}, nil, reason.QueryUnavailable},
		{"answer tampered after signing", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			body := jsonOf(v3QueryAnswer(otn))
			h, _ := f.signer.SignResponse(body, testNow)
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Write([]byte(strings.Replace(string(body), "1234", "9999", 1)))
		}, nil, reason.QueryUnavailable},
		{"stale answer", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 200, jsonOf(v3QueryAnswer(otn)), testNow.Add(-6*time.Minute))
		}, nil, reason.QueryUnavailable},
		{"answer from the future", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 200, jsonOf(v3QueryAnswer(otn)), testNow.Add(6*time.Minute))
		}, nil, reason.QueryUnavailable},
		{"HTTP 500", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 500, []byte(`{"code":"SYSTEM_ERROR","message":"x"}`), testNow)
		}, nil, reason.QueryUnavailable},
		{"slow answer", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}, &http.Client{Timeout: 100 * time.Millisecond}, reason.QueryUnavailable},
		{"signed bad JSON", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 200, []byte(`{"out_trade_no":`), testNow)
		}, nil, reason.QueryUnavailable},
		{"signed duplicate keys", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 200, []byte(`{"trade_state":"SUCCESS","trade_state":"NOTPAY"}`), testNow)
		}, nil, reason.QueryUnavailable},
		{"not found", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 404, notFound, testNow)
		}, nil, reason.QueryMismatch},
		{"unsigned not found", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			w.WriteHeader(404)
			w.Write(notFound)
		}, nil, reason.QueryUnavailable},
		{"404 with another code", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 404, []byte(`{"code":"RESOURCE_NOT_EXISTS","message":"x"}`), testNow)
		}, nil, reason.QueryUnavailable},
		{"answer about another order", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 200, jsonOf(v3QueryAnswer("ORDER-2")), testNow)
		}, nil, reason.QueryMismatch},
		{"answer for another merchant", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			a := v3QueryAnswer(otn)
			a["mchid"] = "1900000009"
			writeSigned(t, w, f.signer, 200, jsonOf(a), testNow)
		}, nil, reason.QueryMismatch},
		{"paid answer without amount", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			a := v3QueryAnswer(otn)
			delete(a, "amount")
			writeSigned(t, w, f.signer, 200, jsonOf(a), testNow)
		}, nil, reason.QueryUnavailable},
		{"answer over 1 MiB", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			writeSigned(t, w, f.signer, 200, []byte(`{"x":"`+strings.Repeat("a", maxResponseBody)+`"}`), testNow)
		}, nil, reason.QueryUnavailable},
		{"redirect", "ORDER-1", func(w http.ResponseWriter, r *http.Request, otn string) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		}, nil, reason.QueryUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := v3QueryServer(t, c.answer)
			q := newV3Fixture(t, func(cfg *V3Config) {
				cfg.Endpoint = srv.URL + "/"
				cfg.HTTPClient = c.client
			})
			res, err := q.p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: c.otn})
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
			if res.Status != notification.StatusPaid || res.Amount != 1234 || res.Currency != "CNY" ||
				res.OutTradeNo != c.otn || res.TransactionID != "4200001234202601021234567890" || res.Merchant != testMchID || res.Raw == nil {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestV3QueryUnpaid(t *testing.T) {
	f := newV3Fixture(t)
	srv := v3QueryServer(t, func(w http.ResponseWriter, r *http.Request, otn string) {
		body, _ := json.Marshal(map[string]any{"mchid": testMchID, "appid": testAppID, "out_trade_no": otn, "trade_state": "NOTPAY", "trade_state_desc": "订单未支付"})
		writeSigned(t, w, f.signer, 200, body, testNow)
	})
	q := newV3Fixture(t, func(cfg *V3Config) { cfg.Endpoint = srv.URL })
	res, err := q.p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "ORDER-9"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != notification.StatusPending || res.Amount != 0 || res.Currency != "" {
		t.Fatalf("%+v", res)
	}
}

func TestV3QueryNotConfigured(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	f := newV3Fixture(t, func(c *V3Config) { c.MerchantSerial, c.PrivateKey, c.Endpoint = "", nil, srv.URL })
	if f.p.CanQuery() {
		t.Fatal("CanQuery without credentials")
	}
	_, err := f.p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "X"})
	wantReason(t, err, reason.QueryUnavailable, nil, "not configured")
	g := newV3Fixture(t, func(c *V3Config) { c.Endpoint = srv.URL })
	_, err = g.p.QueryOrder(context.Background(), &notification.Notification{})
	wantReason(t, err, reason.QueryMismatch, nil, "no out_trade_no")
	if hits.Load() != 0 {
		t.Fatal("a request was sent")
	}
	// A cancelled context is query_unavailable, not a hang.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = g.p.QueryOrder(ctx, &notification.Notification{OutTradeNo: "X"})
	wantReason(t, err, reason.QueryUnavailable, nil, "")
}

func TestVerifyQueryAuthorizationRejects(t *testing.T) {
	f := newV3Fixture(t)
	req := httptest.NewRequest(http.MethodGet, "/v3/pay/transactions/out-trade-no/A?mchid=1", nil)
	auth, err := f.p.authorization(http.MethodGet, "/v3/pay/transactions/out-trade-no/A?mchid=1", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	if err := VerifyQueryAuthorization(req, &merchKey.PublicKey); err != nil {
		t.Fatalf("good authorization: %v", err)
	}
	if err := VerifyQueryAuthorization(req, &otherKey.PublicKey); err == nil {
		t.Fatal("verified with the wrong key")
	}
	other := httptest.NewRequest(http.MethodGet, "/v3/pay/transactions/out-trade-no/B?mchid=1", nil)
	other.Header.Set("Authorization", auth)
	if err := VerifyQueryAuthorization(other, &merchKey.PublicKey); err == nil {
		t.Fatal("verified for another URI")
	}
	for _, bad := range []string{
		"", "Bearer x", SignatureTypeRSA + " mchid=1",
		SignatureTypeRSA + ` mchid="1",mchid="2",nonce_str="n",timestamp="1",serial_no="s",signature="AAAA"`,
		SignatureTypeRSA + ` mchid="1",nonce_str="n",timestamp="1",serial_no="s"`,
		SignatureTypeRSA + ` mchid="1",nonce_str="n",timestamp="1",serial_no="s",signature="AAAA",x="y"`,
	} {
		if _, err := ParseV3Authorization(bad); err == nil {
			t.Fatalf("parsed %q", bad)
		}
	}
}
