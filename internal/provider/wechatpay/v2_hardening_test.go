package wechatpay

import (
	"strings"
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

// Issue 10 item 11: a signed orderquery answer posted to the notify route
// was forwarded as a paid notification.
func TestV2RefusesSignedAPIAnswers(t *testing.T) {
	p := newV2(t, SignTypeMD5)
	s := &V2Signer{APIKey: []byte(testV2Key)}
	answer := v2QueryAnswer("1409811653")
	answer["appid"], answer["mch_id"] = testAppID, "10000100"
	_, err := p.VerifyNotify(v2Req(s.SignResponse(answer)))
	wantReason(t, err, reason.Malformed, nil, "trade_state")
}

// Issue 10 item 11: v2 signs parsed values, so split CDATA, character
// references and added empty elements verify while a shop's naive parser
// reads other bytes. With forward original they are malformed; with
// forward normalized (the shop reads payguard's JSON) they are not.
func TestV2PlainValuesForForwardOriginal(t *testing.T) {
	p := newV2(t, SignTypeMD5)
	s := &V2Signer{APIKey: []byte(testV2Key)}
	genuine := string(s.SignNotify(samplePayment()))
	if !strings.Contains(genuine, "<total_fee><![CDATA[1]]></total_fee>") {
		t.Fatalf("sample changed: %s", genuine)
	}
	f := samplePayment()
	f["total_fee"] = "100"
	hundred := string(s.SignNotify(f))
	variants := map[string]string{
		"split CDATA":       strings.Replace(hundred, "<![CDATA[100]]>", "<![CDATA[1]]><![CDATA[00]]>", 1),
		"character ref":     strings.Replace(hundred, "<![CDATA[100]]>", "&#49;00", 1),
		"text then CDATA":   strings.Replace(hundred, "<![CDATA[100]]>", "1<![CDATA[00]]>", 1),
		"added empty":       strings.Replace(genuine, "</xml>", "<coupon_fee></coupon_fee></xml>", 1),
		"added empty CDATA": strings.Replace(genuine, "</xml>", "<coupon_fee><![CDATA[]]></coupon_fee></xml>", 1),
		"carriage return":   strings.Replace(genuine, "<![CDATA[JSAPI]]>", "<![CDATA[JS\rAPI]]>", 1),
	}
	variants["amp entity"] = strings.Replace(genuine, "<![CDATA[JSAPI]]>", "JS&amp;API", 1)
	for name, body := range variants {
		req := v2Req([]byte(body))
		if name != "carriage return" && name != "amp entity" {
			// These still verify (v2 signs the parsed values)...
			if _, err := p.VerifyNotify(req); err != nil {
				t.Fatalf("%s: forward normalized: %v", name, err)
			}
		}
		// ...but not when the bytes themselves reach the shop.
		req.ForwardOriginal = true
		_, err := p.VerifyNotify(req)
		if reason.CodeOf(err, "") != reason.Malformed {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
	// One CDATA section, or one plain text node: both read alike anywhere.
	for _, ok := range []string{genuine, strings.Replace(genuine, "<![CDATA[JSAPI]]>", "JSAPI", 1)} {
		req := v2Req([]byte(ok))
		req.ForwardOriginal = true
		if _, err := p.VerifyNotify(req); err != nil {
			t.Errorf("plain message refused: %v", err)
		}
	}
}

func FuzzCheckPlainValues(f *testing.F) {
	for _, s := range []string{v2AckSuccess, "<xml><a>1</a></xml>", "<xml><a><![CDATA[1]]><![CDATA[2]]></a></xml>", "<xml><a>&#49;</a></xml>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseXML(b); err == nil {
			_ = checkPlainValues(b)
		}
	})
}
