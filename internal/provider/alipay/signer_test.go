package alipay

import (
	"net/url"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

func TestSampleNotifyParams(t *testing.T) {
	a := SampleNotifyParams(testAppID, "order-9", "0.10", testNow)
	b := SampleNotifyParams(testAppID, "order-9", "0.10", testNow)
	if a["notify_id"] == b["notify_id"] || a["trade_no"] == b["trade_no"] {
		t.Fatal("ids repeat across notifications")
	}
	if len(a["notify_id"]) != 34 || len(a["trade_no"]) != 28 || !strings.HasPrefix(a["notify_id"], "20260304") {
		t.Fatalf("id shapes %q %q", a["notify_id"], a["trade_no"])
	}
	for _, k := range []string{"app_id", "notify_id", "notify_time", "notify_type", "trade_no", "out_trade_no", "trade_status",
		"total_amount", "gmt_payment", "buyer_id", "seller_id", "charset", "version", "fund_bill_list"} {
		if a[k] == "" {
			t.Errorf("%s missing", k)
		}
	}
	if a["notify_time"] != "2026-03-04 13:06:07" {
		t.Fatalf("notify_time %s (Beijing time expected)", a["notify_time"])
	}
	if _, ok := a["sign"]; ok {
		t.Fatal("sign before signing")
	}
	v, err := newProvider(t, nil).VerifyNotify(requestFor(sign(t, &Signer{Key: alipayKey}, a)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Notification.Amount != 10 || v.Notification.Status != notification.StatusPaid {
		t.Fatalf("%+v", v.Notification)
	}
}

func TestSignerErrors(t *testing.T) {
	testKeys(t)
	if _, err := (&Signer{}).SignNotify(map[string]string{"a": "1"}); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := (&Signer{Key: alipayKey, SignType: "MD5"}).SignNotify(map[string]string{"a": "1"}); err == nil {
		t.Fatal("unknown sign type accepted")
	}
	for _, bad := range []string{"", " {}", "{} ", "[]", `{"a":}`, `"x"`} {
		if _, err := (&Signer{Key: alipayKey}).SignResponse(QueryMethod, []byte(bad)); err == nil {
			t.Fatalf("SignResponse accepted %q", bad)
		}
	}
	// SignNotify ignores a sign or sign_type given in params.
	body := sign(t, &Signer{Key: alipayKey}, map[string]string{"a": "1", "sign": "x", "sign_type": "RSA"})
	vals, _ := url.ParseQuery(string(body))
	if vals.Get("sign_type") != "RSA2" || vals.Get("sign") == "x" || len(vals) != 3 {
		t.Fatalf("%v", vals)
	}
}

func TestVerifyQueryRequest(t *testing.T) {
	p := queryProvider(t, "http://127.0.0.1:1/", nil)
	b, err := p.queryForm(QueryMethod, appendBizContent(nil, "out_trade_no", "o&1=2"))
	if err != nil {
		t.Fatal(err)
	}
	form := string(b)
	params, err := VerifyQueryRequest([]byte(form), &appKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if params["biz_content"] != `{"out_trade_no":"o\u00261=2"}` {
		t.Fatalf("biz_content %s", params["biz_content"])
	}
	_, err = VerifyQueryRequest([]byte(form), &otherKey.PublicKey)
	code(t, err, reason.BadSignature)
	_, err = VerifyQueryRequest([]byte(strings.Replace(form, "version=1.0", "version=2.0", 1)), &appKey.PublicKey)
	code(t, err, reason.BadSignature)
	_, err = VerifyQueryRequest([]byte(form+"&method=x"), &appKey.PublicKey)
	code(t, err, reason.Malformed)
	_, err = VerifyQueryRequest([]byte(strings.Replace(form, "sign_type=RSA2", "sign_type=RSA", 1)), &appKey.PublicKey)
	code(t, err, reason.BadSignature)
	_, err = VerifyQueryRequest([]byte(form), nil)
	code(t, err, reason.UnknownKey)
}
