package unionpay

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

func TestVerifyGenuine(t *testing.T) {
	p := newProvider(t, nil)
	now := time.Now()
	params := sampleParams(now)
	params["accNo"] = "6216261000000000018" // a plain card number
	v, err := verify(p, genuine(t, params), now)
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	txnTime, _ := parseTxnTime(params["txnTime"])
	switch {
	case n.Provider != Name, n.EventID != "482601011200001234567:01", n.Type != "payment.succeeded":
		t.Fatalf("ids: %+v", n)
	case n.OutTradeNo != "20260101120000001", n.TransactionID != "482601011200001234567", n.Merchant != testMerID:
		t.Fatalf("numbers: %+v", n)
	case n.Amount != 1000, n.Currency != "CNY", n.Status != notification.StatusPaid:
		t.Fatalf("money: %+v", n)
	case !v.EventTime.Equal(txnTime), !n.OccurredAt.Equal(txnTime), !v.Timestamp.IsZero(), v.Nonce != "":
		t.Fatalf("times: event %v occurred %v timestamp %v nonce %q, want txnTime %v", v.EventTime, n.OccurredAt, v.Timestamp, v.Nonce, txnTime)
	case n.RefundAmount != 0, n.RefundID != "":
		t.Fatalf("refund fields on a payment: %+v", n)
	}
	if _, ok := n.Fields()[fieldSignature]; ok {
		t.Error("raw holds the signature")
	}
	if _, ok := n.Fields()[fieldCert]; ok {
		t.Error("raw holds signPubKeyCert")
	}
	if got := n.Fields()["accNo"]; got != "621626*********0018" {
		t.Errorf("accNo in raw = %v, want it masked", got)
	}
	if n.Fields()["respMsg"] != "Success!" {
		t.Errorf("raw respMsg = %v", n.Fields()["respMsg"])
	}
}

// TestVerifyStatuses covers the status map and the refund fields.
func TestVerifyStatuses(t *testing.T) {
	p := newProvider(t, nil)
	now := time.Now()
	cases := []struct {
		name                string
		set                 map[string]string
		status              notification.Status
		amount, refund      int64
		refundID, eventType string
	}{
		{"A6 is paid", map[string]string{"respCode": "A6"}, notification.StatusPaid, 1000, 0, "", "payment.succeeded"},
		{"pending", map[string]string{"respCode": "05"}, notification.StatusPending, 1000, 0, "", "payment.pending"},
		{"failed", map[string]string{"respCode": "01"}, notification.StatusFailed, 1000, 0, "", "payment.failed"},
		{"refund with origTxnAmt", map[string]string{"txnType": TxnRefund, "txnSubType": "00", "txnAmt": "300", "origTxnAmt": "1000", "origQryId": "492601011200001234567"},
			notification.StatusRefunded, 1000, 300, "482601011200001234567", "payment.refunded"},
		{"refund without origTxnAmt", map[string]string{"txnType": TxnRefund, "txnSubType": "00", "txnAmt": "300"},
			notification.StatusRefunded, 300, 300, "482601011200001234567", "payment.refunded"},
		{"refund failed", map[string]string{"txnType": TxnRefund, "txnAmt": "300", "respCode": "01"},
			notification.StatusFailed, 300, 300, "482601011200001234567", "payment.failed"},
		{"void", map[string]string{"txnType": TxnVoid, "txnSubType": "00"}, notification.StatusClosed, 1000, 0, "", "payment.closed"},
		{"other transaction type", map[string]string{"txnType": "02"}, notification.StatusOther, 1000, 0, "", "payment.other"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			params := sampleParams(now)
			for k, v := range c.set {
				params[k] = v
			}
			v, err := verify(p, genuine(t, params), now)
			if err != nil {
				t.Fatal(err)
			}
			n := v.Notification
			if n.Status != c.status || n.Amount != c.amount || n.RefundAmount != c.refund || n.RefundID != c.refundID || n.Type != c.eventType {
				t.Fatalf("got status %s amount %d refund %d id %q type %s", n.Status, n.Amount, n.RefundAmount, n.RefundID, n.Type)
			}
			if want := params["queryId"] + ":" + params["txnType"]; n.EventID != want {
				t.Fatalf("event id %s, want %s", n.EventID, want)
			}
		})
	}
}

// TestVerifyRefusals: what a genuine signature cannot save, and what no
// signature check is even reached for.
func TestVerifyRefusals(t *testing.T) {
	p := newProvider(t, nil)
	pki, stranger := pkis(t)
	now := time.Now()
	with := func(k, v string) map[string]string {
		m := sampleParams(now)
		if v == "\x00" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	body := genuine(t, sampleParams(now))
	badOrig := sampleParams(now)
	badOrig["txnType"], badOrig["origTxnAmt"] = TxnRefund, "1,000"
	cases := []struct {
		name string
		body []byte
		code reason.Code
	}{
		{"merId of another merchant", genuine(t, with("merId", "898111111111111")), reason.BadSignature},
		{"signMethod 02", genuine(t, with("signMethod", "02")), reason.BadSignature},
		{"no signMethod", genuine(t, with("signMethod", "\x00")), reason.BadSignature},
		{"version 5.0.0", genuine(t, with("version", "5.0.0")), reason.BadSignature},
		{"GBK", genuine(t, with("encoding", "GBK")), reason.Malformed},
		{"signed by the merchant's certificate", signed(t, pki.MerchantKey, pki.Merchant, sampleParams(now)), reason.BadSignature},
		{"a stranger's chain", signed(t, stranger.SignKey, stranger.Sign, sampleParams(now)), reason.BadSignature},
		{"UnionPay's certificate, another key's signature", signed(t, stranger.SignKey, pki.Sign, sampleParams(now)), reason.BadSignature},
		{"no certificate", signed(t, pki.SignKey, nil, sampleParams(now)), reason.BadSignature},
		{"no signature", bytes.Replace(body, []byte("signature="), []byte("signaturX="), 1), reason.BadSignature},
		{"signature not base64", append(bytes.Replace(body, []byte("&signature="), []byte("&x="), 1), "&signature=%21%21"...), reason.BadSignature},
		{"amount changed", bytes.Replace(body, []byte("txnAmt=1000"), []byte("txnAmt=1001"), 1), reason.BadSignature},
		{"duplicated parameter", append(append([]byte{}, body...), "&txnAmt=1"...), reason.Malformed},
		{"duplicated after decoding", append(append([]byte{}, body...), "&txn%41mt=1"...), reason.Malformed},
		{"empty parameter", append(append([]byte{}, body...), '&'), reason.Malformed},
		{"bad escape", append(append([]byte{}, body...), "&x=%zz"...), reason.Malformed},
		{"txnAmt with decimals", genuine(t, with("txnAmt", "10.00")), reason.Malformed},
		{"txnAmt with a leading zero", genuine(t, with("txnAmt", "01000")), reason.Malformed},
		{"txnAmt negative", genuine(t, with("txnAmt", "-1000")), reason.Malformed},
		{"currency USD", genuine(t, with("currencyCode", "840")), reason.Malformed},
		{"txnTime not a time", genuine(t, with("txnTime", "20261341000000")), reason.Malformed},
		{"no queryId", genuine(t, with("queryId", "\x00")), reason.Malformed},
		{"no orderId", genuine(t, with("orderId", "")), reason.Malformed},
		{"refund's origTxnAmt not fen", genuine(t, badOrig), reason.Malformed},
		{"not UTF-8", genuine(t, with("respMsg", "\xff\xfe")), reason.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := verify(p, c.body, now)
			if v != nil {
				t.Fatal("verified")
			}
			wantCode(t, err, c.code)
		})
	}
}

// TestVerifyURLQueryShadow: a URL query parameter that frameworks would
// read as a body parameter is malformed; an unrelated one is not.
func TestVerifyURLQueryShadow(t *testing.T) {
	p := newProvider(t, nil)
	now := time.Now()
	body := genuine(t, sampleParams(now))
	for _, q := range []string{"txnAmt=1", "TXNAMT=1", "orderid=1", "mer%49d=x", "a=%zz"} {
		_, err := p.VerifyNotify(&provider.Request{Body: body, RawQuery: q, Now: now})
		wantCode(t, err, reason.Malformed)
	}
	if _, err := p.VerifyNotify(&provider.Request{Body: body, RawQuery: "route=unionpay", Now: now}); err != nil {
		t.Fatalf("unrelated query parameter: %v", err)
	}
}

// TestVerifyPlusAndEscapes: the PEM certificate travels with '+' for its
// spaces and %2B for its '+'; a body with the escapes spelled otherwise
// (%20, lower-case hex) is the same form.
func TestVerifyPlusAndEscapes(t *testing.T) {
	p := newProvider(t, nil)
	now := time.Now()
	body := genuine(t, sampleParams(now))
	if !bytes.Contains(body, []byte("BEGIN+CERTIFICATE")) || !bytes.Contains(body, []byte("%2B")) {
		t.Fatal("the encoded body does not exercise '+' and %2B")
	}
	alt := bytes.ReplaceAll(body, []byte("BEGIN+CERTIFICATE"), []byte("BEGIN%20CERTIFICATE"))
	alt = bytes.ReplaceAll(alt, []byte("%2B"), []byte("%2b"))
	if _, err := verify(p, alt, now); err != nil {
		t.Fatalf("equivalent escapes: %v", err)
	}
	// A '+' left raw inside the base64 would decode to a space: refused.
	broken := bytes.ReplaceAll(body, []byte("%2B"), []byte("+"))
	wantCode(t, func() error { _, err := verify(p, broken, now); return err }(), reason.BadSignature)
}

func TestAcknowledge(t *testing.T) {
	p := newProvider(t, nil)
	if a := p.Acknowledge(true, reason.Forwarded, 200); a.Status != http.StatusOK || len(a.Body) != 0 {
		t.Fatalf("accepted: %+v", a)
	}
	if a := p.Acknowledge(true, reason.Duplicate, 200); a.Status != http.StatusOK {
		t.Fatalf("duplicate: %+v", a)
	}
	for code, want := range map[reason.Code]int{
		reason.BadSignature: 401, reason.Malformed: 400, reason.InFlight: 409,
		reason.QueryUnavailable: 503, reason.QueryMismatch: 403, reason.UpstreamFailed: 502,
	} {
		a := p.Acknowledge(false, code, reason.HTTPStatus(code))
		if a.Status != want || string(a.Body) != string(code) {
			t.Errorf("%s: %+v, want status %d", code, a, want)
		}
	}
	// A refusal is never a 200, whatever status the caller passes.
	if a := p.Acknowledge(false, reason.UpstreamFailed, 200); a.Status < 400 {
		t.Fatalf("refusal with status 200 became %d", a.Status)
	}
	if tr := p.Traits(); tr.Method != http.MethodPost || tr.Passthrough {
		t.Fatalf("traits %+v", tr)
	}
}

func TestNewConfigErrors(t *testing.T) {
	pki, _ := pkis(t)
	root, middle := []byte(CertPEM(pki.Root)), []byte(CertPEM(pki.Middle))
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"no mer_id":            {Config{RootCert: root, MiddleCert: middle}, "mer_id"},
		"mer_id with space":    {Config{MerID: "77729 0058110048", RootCert: root, MiddleCert: middle}, "mer_id"},
		"no middle":            {Config{MerID: testMerID, RootCert: root}, "middle_cert_file"},
		"leaf as middle":       {Config{MerID: testMerID, RootCert: root, MiddleCert: []byte(CertPEM(pki.Sign))}, "not a CA"},
		"both query forms":     {Config{MerID: testMerID, RootCert: root, MiddleCert: middle, SignCert: []byte{0x30}, PrivateKey: []byte("k")}, "not both"},
		"pfx without password": {Config{MerID: testMerID, RootCert: root, MiddleCert: middle, SignCert: []byte{0x30, 0}}, "together"},
		"key without cert_id":  {Config{MerID: testMerID, RootCert: root, MiddleCert: middle, PrivateKey: []byte("k")}, "together"},
		"cert_id not decimal":  {Config{MerID: testMerID, RootCert: root, MiddleCert: middle, PrivateKey: []byte("k"), CertID: "0x10"}, "cert_id"},
		"ftp endpoint":         {Config{MerID: testMerID, RootCert: root, MiddleCert: middle, Endpoint: "ftp://x/"}, "endpoint"},
	}
	for name, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
}
