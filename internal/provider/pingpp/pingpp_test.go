package pingpp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

func TestChargeSucceeded(t *testing.T) {
	v, err := newTestProvider(t).VerifyNotify(signed(t, chargeEvent))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.Status != notification.StatusPaid || n.Amount != 1234 || n.Currency != "CNY" ||
		n.OutTradeNo != "ORDER1" || n.TransactionID != "ch_test0000000000000000001" || n.RefundAmount != 0 {
		t.Errorf("%+v", n)
	}
}

func TestRefundSucceeded(t *testing.T) {
	v, err := newTestProvider(t).VerifyNotify(signed(t, refundEvent))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.Status != notification.StatusRefunded || n.RefundAmount != 500 || n.Amount != 500 || n.Currency != "CNY" ||
		n.RefundID != "re_test0000000000000000001" || n.OutTradeNo != "ORDER1" ||
		n.TransactionID != "ch_test0000000000000000001" || !n.OccurredAt.Equal(time.Unix(1700000090, 0)) {
		t.Errorf("%+v", n)
	}
	// An older refund object without charge_order_no names the charge's
	// order number as order_no.
	old := strings.Replace(refundEvent, `"order_no":"REFUND1","charge_order_no":"ORDER1",`, `"order_no":"ORDER1",`, 1)
	if v, err = newTestProvider(t).VerifyNotify(signed(t, old)); err != nil || v.Notification.OutTradeNo != "ORDER1" {
		t.Fatalf("old refund object: %v %+v", err, v)
	}
}

func TestStatusWords(t *testing.T) {
	for name, c := range map[string]struct {
		body string
		want notification.Status
	}{
		"unpaid charge.succeeded": {strings.Replace(chargeEvent, `"paid":true`, `"paid":false`, 1), notification.StatusOther},
		"refund not succeeded": {strings.NewReplacer(`"succeed":true`, `"succeed":false`, `"status":"succeeded"`, `"status":"pending"`).
			Replace(refundEvent), notification.StatusOther},
		"other type": {strings.Replace(chargeEvent, "charge.succeeded", "transfer.succeeded", 1), notification.StatusOther},
		"summary event": {`{"id":"evt_s1","object":"event","created":1700000000,"type":"summary.daily.available",` +
			`"data":{"object":{"app_id":"app_test","charges_amount":1}}}`, notification.StatusOther},
	} {
		v, err := newTestProvider(t).VerifyNotify(signed(t, c.body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if v.Notification.Status != c.want {
			t.Errorf("%s: status %s, want %s", name, v.Notification.Status, c.want)
		}
	}
}

// The algorithm is the configuration's: an RSA-SHA1 signature by the right
// key over the same body is refused.
func TestSHA1SignatureRefused(t *testing.T) {
	h := sha1.Sum([]byte(chargeEvent))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key(t), crypto.SHA1, h[:])
	if err != nil {
		t.Fatal(err)
	}
	req := signed(t, chargeEvent)
	req.Header.Set(SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	if _, err := newTestProvider(t).VerifyNotify(req); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatalf("SHA-1 signature: err = %v, want bad_signature", err)
	}
}

func TestSignatureHeader(t *testing.T) {
	good := signed(t, chargeEvent).Header.Get(SignatureHeader)
	raw, _ := base64.StdEncoding.DecodeString(good)
	for name, c := range map[string]struct {
		values []string
		want   reason.Code
	}{
		"absent":              {nil, reason.BadSignature},
		"empty (test mode)":   {[]string{""}, reason.BadSignature},
		"twice":               {[]string{good, good}, reason.Malformed},
		"not base64":          {[]string{"!!!" + good[3:]}, reason.BadSignature},
		"url-safe alphabet":   {[]string{base64.URLEncoding.EncodeToString(raw)}, reason.BadSignature},
		"short":               {[]string{base64.StdEncoding.EncodeToString(raw[:100])}, reason.BadSignature},
		"trailing whitespace": {[]string{good + " "}, reason.BadSignature},
	} {
		req := signed(t, chargeEvent)
		req.Header.Del(SignatureHeader)
		for _, v := range c.values {
			req.Header.Add(SignatureHeader, v)
		}
		_, err := newTestProvider(t).VerifyNotify(req)
		if got := reason.CodeOf(err, ""); got != c.want {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
}

// Signed but malformed events: the signature holds, the envelope does not.
func TestMalformedEvents(t *testing.T) {
	for name, body := range map[string]string{
		"not json":          `id=evt_1`,
		"duplicate key":     strings.Replace(chargeEvent, `"amount":1234`, `"amount":1234,"amount":1`, 1),
		"duplicate top key": strings.Replace(chargeEvent, `"object":"event"}`, `"object":"event","id":"evt_other"}`, 1),
		"not an event":      strings.Replace(chargeEvent, `"object":"event"`, `"object":"charge"`, 1),
		"no evt_ id":        strings.Replace(chargeEvent, `"evt_test0000000000000000001"`, `"test1"`, 1),
		"bare evt_":         strings.Replace(chargeEvent, `"evt_test0000000000000000001"`, `"evt_"`, 1),
		"id with space":     strings.Replace(chargeEvent, `"evt_test0000000000000000001"`, `"evt_a b"`, 1),
		"no type":           strings.Replace(chargeEvent, `"type":"charge.succeeded",`, ``, 1),
		"created as string": strings.Replace(chargeEvent, `"created":1700000000`, `"created":"1700000000"`, 1),
		"negative created":  strings.Replace(chargeEvent, `"created":1700000000`, `"created":-1`, 1),
		"no data.object":    `{"id":"evt_1","object":"event","created":1,"type":"charge.succeeded","data":{}}`,
		"fractional amount": strings.Replace(chargeEvent, `"amount":1234`, `"amount":12.34`, 1),
		"negative amount":   strings.Replace(chargeEvent, `"amount":1234`, `"amount":-1234`, 1),
		"amount as string":  strings.Replace(chargeEvent, `"amount":1234`, `"amount":"1234"`, 1),
		"bad currency":      strings.Replace(chargeEvent, `"currency":"cny"`, `"currency":"yuan"`, 1),
		"no order_no":       strings.Replace(chargeEvent, `"order_no":"ORDER1",`, ``, 1),
		"charge id not ch_": strings.Replace(chargeEvent, `"id":"ch_test0000000000000000001"`, `"id":"re_x"`, 1),
		"charge not charge": strings.Replace(chargeEvent, `"object":"charge"`, `"object":"refund"`, 1),
		"refund not refund": strings.Replace(refundEvent, `"object":"refund"`, `"object":"charge"`, 1),
		"refund without ch": strings.Replace(refundEvent, `"charge":"ch_test0000000000000000001"`, `"charge":""`, 1),
		"refund id not re_": strings.Replace(refundEvent, `"id":"re_test0000000000000000001"`, `"id":"ch_x"`, 1),
		"trailing data":     chargeEvent + `{}`,
		"invalid utf-8":     strings.Replace(chargeEvent, "ORDER1", "ORDER\xff", 1),
	} {
		_, err := newTestProvider(t).VerifyNotify(signed(t, body))
		if got := reason.CodeOf(err, ""); got != reason.Malformed {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
}

// A modified body under the original signature is bad_signature before
// any parsing: the envelope is never read from unauthenticated bytes.
func TestTamperedBodyIsBadSignature(t *testing.T) {
	req := signed(t, chargeEvent)
	req.Body = []byte(strings.Replace(chargeEvent, "1234", "1", 1))
	if _, err := newTestProvider(t).VerifyNotify(req); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatal(err)
	}
	req.Body = []byte("not even json")
	if _, err := newTestProvider(t).VerifyNotify(req); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatal(err)
	}
}

func TestNewRefusesWeakKey(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no key accepted")
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{PublicKey: &small.PublicKey}); err == nil {
		t.Error("1024-bit key accepted")
	}
}

func TestAcknowledge(t *testing.T) {
	p := newTestProvider(t)
	if a := p.Acknowledge(true, reason.Forwarded, 200); a.Status != http.StatusOK {
		t.Errorf("accepted: %d", a.Status)
	}
	if a := p.Acknowledge(true, reason.Duplicate, 200); a.Status != http.StatusOK {
		t.Errorf("duplicate: %d", a.Status)
	}
	for _, c := range reason.All {
		if c == reason.Forwarded || c == reason.Duplicate || c == reason.Watching {
			continue
		}
		a := p.Acknowledge(false, c, 0)
		if a.Status != reason.HTTPStatus(c) || a.Status < 300 {
			t.Errorf("%s: status %d, want the contract's %d", c, a.Status, reason.HTTPStatus(c))
		}
		if a2 := p.Acknowledge(false, c, reason.HTTPStatus(c)); a2.Status != a.Status {
			t.Errorf("%s: given status %d ignored", c, a2.Status)
		}
	}
}
