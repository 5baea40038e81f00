package wechatpay

import (
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

func TestV2Accepted(t *testing.T) {
	p := newV2(t, SignTypeMD5)
	for _, c := range []struct {
		status int
		body   string
		ok     bool
	}{
		{200, v2AckSuccess, true},
		{200, "<xml><return_code>SUCCESS</return_code></xml>\n", true},
		{200, `<?xml version="1.0" encoding="UTF-8"?><xml><return_code><![CDATA[SUCCESS]]></return_code></xml>`, true},
		{200, "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>retry</return_msg></xml>", false},
		{200, "success", false},
		{200, "", false},
		{500, v2AckSuccess, false},
		{200, "<xml><return_code>SUCCESS</return_code><return_code>FAIL</return_code></xml>", false},
	} {
		if got := p.Accepted(c.status, nil, []byte(c.body)); got != c.ok {
			t.Errorf("%d %q: accepted %v, want %v", c.status, c.body, got, c.ok)
		}
	}
}

// Issue 10 item 5: v2 signs no send time; time_end is the EventTime the
// pipeline holds to max_age, and a paid notice must carry it.
func TestV2EventTime(t *testing.T) {
	p := newV2(t, SignTypeMD5)
	s := &V2Signer{APIKey: []byte(testV2Key)}
	v, err := p.VerifyNotify(v2Req(s.SignNotify(samplePayment())))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2014, 9, 3, 5, 15, 40, 0, time.UTC); !v.EventTime.Equal(want) || !v.Timestamp.IsZero() {
		t.Fatalf("event time %v, want %v", v.EventTime, want)
	}
	f := samplePayment()
	delete(f, "time_end")
	_, err = p.VerifyNotify(v2Req(s.SignNotify(f)))
	wantReason(t, err, reason.Malformed, nil, "time_end")
}

// Issue 10 item 9: a partial refund's Payguard-Amount is the payment's
// total_fee; refund_fee and out_refund_no are the refund's own.
func TestV2RefundAmounts(t *testing.T) {
	p := newV2(t, SignTypeMD5)
	s := &V2Signer{APIKey: []byte(testV2Key)}
	info := sampleRefundInfo()
	info["total_fee"], info["refund_fee"] = "10000", "50"
	v, err := p.VerifyNotify(v2Req(s.SignRefundNotify(sampleRefundOuter(), info)))
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Notification; n.Amount != 10000 || n.RefundAmount != 50 || n.RefundID != "R-1409811653" {
		t.Fatalf("amount %d refund %d id %q", n.Amount, n.RefundAmount, n.RefundID)
	}
	info["refund_fee"] = "10001"
	_, err = p.VerifyNotify(v2Req(s.SignRefundNotify(sampleRefundOuter(), info)))
	wantReason(t, err, reason.Malformed, nil, "refund_fee")
}
