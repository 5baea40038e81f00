package alipay

import (
	"testing"
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
