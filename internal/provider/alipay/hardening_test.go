package alipay

import (
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Issue 10 item 5: Alipay signs no send time, so its signed notify_time is
// the Verified.EventTime the pipeline holds to max_age. Freshness is the
// pipeline's alone: the provider refuses no age itself.
func TestEventTimeIsNotifyTime(t *testing.T) {
	p := newProvider(t, nil)
	params := SampleNotifyParams(testAppID, "o-1", "1.00", testNow)
	// Three months old: verified, with its age for the pipeline to judge.
	old := testNow.AddDate(0, -3, 0)
	params["notify_time"] = old.In(beijing).Format(timeLayout)
	body, err := (&Signer{Key: alipayKey}).SignNotify(params)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.VerifyNotify(requestFor(body))
	if err != nil {
		t.Fatal(err)
	}
	if !v.EventTime.Equal(old) || !v.Timestamp.IsZero() {
		t.Fatalf("event time %v, timestamp %v; want %v and none", v.EventTime, v.Timestamp, old)
	}
}

// Issue 10 item 9: a 0.50 partial refund of a 100.00 order: Amount is the
// payment's 10000, RefundAmount the trade's refunds so far, RefundID the
// refund request's out_biz_no.
func TestRefundAmounts(t *testing.T) {
	p := newProvider(t, nil)
	params := SampleNotifyParams(testAppID, "o-1", "100.00", testNow)
	params["refund_fee"], params["out_biz_no"], params["gmt_refund"] = "0.50", "RF-1", "2026-03-04 13:06:08"
	body, err := (&Signer{Key: alipayKey}).SignNotify(params)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.VerifyNotify(requestFor(body))
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Notification; n.Status != "refunded" || n.Amount != 10000 || n.RefundAmount != 50 || n.RefundID != "RF-1" {
		t.Fatalf("%+v", n)
	}
}

// Issue 10 item 10: an async notification's signed fields sent as the
// query of a return route verified and were forwarded as paid. A return
// must name a return method, must not be a notification, and says pending.
func TestReturnRouteRefusesNotifications(t *testing.T) {
	p := newProvider(t, func(c *Config) { c.Mode = ModeReturn; c.SellerID = "" })
	ret := func(mut func(map[string]string)) string {
		ps := map[string]string{
			"app_id": testAppID, "auth_app_id": testAppID, "charset": "utf-8", "method": "alipay.trade.wap.pay.return",
			"out_trade_no": "order-1", "seller_id": SampleSellerID, "timestamp": "2026-03-04 13:06:07",
			"total_amount": "12.34", "trade_no": "2026030422001400000000000001", "version": "1.0",
		}
		if mut != nil {
			mut(ps)
		}
		b, err := (&Signer{Key: alipayKey}).SignNotify(ps)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v, err := p.VerifyNotify(&provider.Request{Method: "GET", RawQuery: ret(nil)})
	if err != nil || v.Notification.Status != notification.StatusPending || v.EventTime.IsZero() {
		t.Fatalf("wap return: %+v %v", v, err)
	}
	notify, err := (&Signer{Key: alipayKey}).SignNotify(SampleNotifyParams(testAppID, "o-1", "1.00", testNow))
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]string{
		"async notification as the query": string(notify),
		"no method":                       ret(func(m map[string]string) { delete(m, "method") }),
		"another method":                  ret(func(m map[string]string) { m["method"] = "alipay.trade.query" }),
		"trade_status added":              ret(func(m map[string]string) { m["trade_status"] = "TRADE_SUCCESS" }),
		"no timestamp":                    ret(func(m map[string]string) { delete(m, "timestamp") }),
	} {
		_, err := p.VerifyNotify(&provider.Request{Method: "GET", RawQuery: q})
		if reason.CodeOf(err, "") != reason.Malformed {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
}
