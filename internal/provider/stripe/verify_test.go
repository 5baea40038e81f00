package stripe

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

var paidBody = piEvent("payment_intent.succeeded", "succeeded", 1234, 1234, "usd", `{"out_trade_no":"ORDER-1"}`)

func TestVerifyGenuine(t *testing.T) {
	v, err := newTestProvider(t).VerifyNotify(signedRequest(paidBody, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.Provider != Name || n.EventID != "evt_1PAYGUARD" || n.Type != "payment_intent.succeeded" ||
		n.OutTradeNo != "ORDER-1" || n.TransactionID != "pi_3PAYGUARD" || n.Amount != 1234 ||
		n.Currency != "USD" || n.Status != notification.StatusPaid {
		t.Fatalf("notification %+v", n)
	}
	if !v.Timestamp.Equal(testNow) || v.Nonce != "" || !v.EventTime.IsZero() {
		t.Fatalf("timestamp %v nonce %q event time %v", v.Timestamp, v.Nonce, v.EventTime)
	}
	if !n.OccurredAt.Equal(time.Unix(1767322800, 0)) {
		t.Fatalf("occurred at %v", n.OccurredAt)
	}
	if n.Raw["id"] != "evt_1PAYGUARD" {
		t.Fatalf("raw %v", n.Raw)
	}
}

// The window is the pipeline's: a signature from an hour ago or an hour
// ahead verifies here, and Verified.Timestamp carries the signed time so
// the pipeline refuses it in both directions.
func TestVerifyReturnsSignedTimestamp(t *testing.T) {
	p := newTestProvider(t)
	for _, d := range []time.Duration{-time.Hour, time.Hour, 0} {
		at := testNow.Add(d)
		v, err := p.VerifyNotify(requestWith(paidBody, SignatureHeader(at, []byte(paidBody), []byte(testSecret))))
		if err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		if !v.Timestamp.Equal(at) {
			t.Fatalf("%v: timestamp %v, want %v", d, v.Timestamp, at)
		}
	}
}

func TestVerifyRotation(t *testing.T) {
	both := newTestProvider(t, testOldSecret, testSecret)
	for _, s := range []string{testSecret, testOldSecret} {
		if _, err := both.VerifyNotify(signedRequest(paidBody, s)); err != nil {
			t.Errorf("signed with %s: %v", s, err)
		}
	}
	// Stripe signs with both secrets while one is rolled: either v1 may
	// be the one that matches.
	two := requestWith(paidBody, SignatureHeader(testNow, []byte(paidBody), []byte("whsec_unknown"), []byte(testSecret)))
	if _, err := newTestProvider(t).VerifyNotify(two); err != nil {
		t.Errorf("second v1 entry: %v", err)
	}
	_, err := newTestProvider(t, testOldSecret).VerifyNotify(signedRequest(paidBody, testSecret))
	wantCode(t, err, reason.BadSignature)
}

func TestVerifyRefusals(t *testing.T) {
	p := newTestProvider(t)
	good := SignatureHeader(testNow, []byte(paidBody), []byte(testSecret))
	_, v1, _ := strings.Cut(good, ",v1=")
	ts := itoa(testNow.Unix())
	cases := []struct {
		name string
		sig  string
		want reason.Code
	}{
		{"no header", "", reason.BadSignature},
		{"blank", "   ", reason.BadSignature},
		{"v0 only", "t=" + ts + ",v0=" + v1, reason.BadSignature},
		{"unknown schemes only", "t=" + ts + ",v2=" + v1 + ",V1=" + v1, reason.BadSignature},
		{"undecodable v1", "t=" + ts + ",v1=" + strings.Repeat("zz", 32), reason.BadSignature},
		{"short v1", "t=" + ts + ",v1=" + v1[:62], reason.BadSignature},
		{"wrong v1", "t=" + ts + ",v1=" + strings.Repeat("ab", 32), reason.BadSignature},
		{"timestamp moved", "t=" + itoa(testNow.Unix()+1) + ",v1=" + v1, reason.BadSignature},
		{"no timestamp", "v1=" + v1, reason.Malformed},
		{"two timestamps", "t=" + ts + ",t=" + ts + ",v1=" + v1, reason.Malformed},
		{"signed timestamp", "t=+" + ts + ",v1=" + v1, reason.Malformed},
		{"negative timestamp", "t=-" + ts + ",v1=" + v1, reason.Malformed},
		{"leading zero", "t=0" + ts + ",v1=" + v1, reason.Malformed},
		{"huge timestamp", "t=9999999999999999999,v1=" + v1, reason.Malformed},
		{"pair without =", "t=" + ts + ",v1" + v1, reason.Malformed},
		{"empty pair", "t=" + ts + ",,v1=" + v1, reason.Malformed},
		{"two =", "t=" + ts + ",v1=" + v1 + "=", reason.Malformed},
		{"empty key", "t=" + ts + ",=" + v1, reason.Malformed},
		{"too many v1", "t=" + ts + strings.Repeat(",v1="+v1, maxSignatures+1), reason.Malformed},
		{"too long", "t=" + ts + ",v0=" + strings.Repeat("a", maxHeaderLen), reason.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.VerifyNotify(requestWith(paidBody, c.sig))
			wantCode(t, err, c.want)
		})
	}
	t.Run("two headers", func(t *testing.T) {
		req := requestWith(paidBody, good)
		req.Header.Add(HeaderSignature, good)
		_, err := p.VerifyNotify(req)
		wantCode(t, err, reason.Malformed)
	})
	t.Run("nil request", func(t *testing.T) {
		_, err := p.VerifyNotify(nil)
		wantCode(t, err, reason.Malformed)
	})
}

func TestVerifyHeaderTolerance(t *testing.T) {
	// Stripe's order, spaces around pairs, v0 and unknown schemes beside
	// the v1 entry, and upper-case hex all verify.
	good := SignatureHeader(testNow, []byte(paidBody), []byte(testSecret))
	ts, v1, _ := strings.Cut(good, ",v1=")
	raw, _ := hex.DecodeString(v1)
	for _, sig := range []string{
		"v1=" + v1 + "," + ts,
		ts + ", v1=" + v1,
		ts + ",v0=" + strings.Repeat("00", 32) + ",v1=" + v1 + ",v9=x",
		ts + ",v1=" + strings.ToUpper(hex.EncodeToString(raw)),
		ts + ",v1=nothex,v1=" + v1,
	} {
		if _, err := newTestProvider(t).VerifyNotify(requestWith(paidBody, sig)); err != nil {
			t.Errorf("%s: %v", sig, err)
		}
	}
}

func TestVerifyMalformedBodies(t *testing.T) {
	p := newTestProvider(t)
	for name, body := range map[string]string{
		"not json":          `id=evt_1`,
		"array":             `[]`,
		"trailing data":     paidBody + `{}`,
		"duplicate id":      strings.Replace(paidBody, `"object":"event"`, `"object":"event","id":"evt_2OTHER"`, 1),
		"duplicate amount":  strings.Replace(paidBody, `"amount":1234,`, `"amount":1234,"amount":1,`, 1),
		"escaped duplicate": strings.Replace(paidBody, `"object":"event"`, `"object":"event","\u0069d":"evt_2OTHER"`, 1),
		"not an event":      strings.Replace(paidBody, `"object":"event"`, `"object":"charge"`, 1),
		"thin event":        `{"id":"evt_1","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","created":"2024-09-26T17:46:22.134Z"}`,
		"bad event id":      strings.Replace(paidBody, `"evt_1PAYGUARD"`, `"evt_1/../x"`, 1),
		"no event id":       strings.Replace(paidBody, `"id":"evt_1PAYGUARD",`, ``, 1),
		"bad type":          strings.Replace(paidBody, `"type":"payment_intent.succeeded"`, `"type":"Payment Intent"`, 1),
		"no created":        strings.Replace(paidBody, `"created":1767322800,`, ``, 1),
		"no data":           `{"id":"evt_1","object":"event","created":1,"type":"payment_intent.succeeded"}`,
		"float amount":      strings.Replace(paidBody, `"amount_received":1234`, `"amount_received":1234.0`, 1),
		"negative amount":   strings.Replace(paidBody, `"amount_received":1234`, `"amount_received":-1234`, 1),
		"string amount":     strings.Replace(paidBody, `"amount_received":1234`, `"amount_received":"1234"`, 1),
		"bad currency":      strings.Replace(paidBody, `"usd"`, `"us"`, 1),
		"no currency":       strings.Replace(paidBody, `"currency":"usd",`, ``, 1),
		"number metadata":   strings.Replace(paidBody, `"ORDER-1"`, `7`, 1),
		"wrong kind":        strings.Replace(paidBody, `"object":"payment_intent"`, `"object":"charge"`, 1),
		"status disagrees":  strings.Replace(paidBody, `"status":"succeeded"`, `"status":"processing"`, 1),
		"bad account":       strings.Replace(paidBody, `"livemode":false,"pending`, `"account":"acct 1","livemode":false,"pending`, 1),
		"deep":              strings.Repeat(`{"a":`, strictjson.MaxDepth+1) + `1` + strings.Repeat(`}`, strictjson.MaxDepth+1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.VerifyNotify(signedRequest(body, testSecret))
			wantCode(t, err, reason.Malformed)
		})
	}
}

func TestVerifyURLQueryShadowing(t *testing.T) {
	p := newTestProvider(t)
	for _, q := range []string{"type=payment_intent.succeeded", "ID=evt_2", "data[object][amount]=1", "x=1&api.version=1", "live%6Dode=true", "a%zz=1"} {
		req := signedRequest(paidBody, testSecret)
		req.RawQuery = q
		_, err := p.VerifyNotify(req)
		wantCode(t, err, reason.Malformed)
	}
	req := signedRequest(paidBody, testSecret)
	req.RawQuery = "route=shop1&token=abc"
	if _, err := p.VerifyNotify(req); err != nil {
		t.Fatalf("unrelated query parameters: %v", err)
	}
}

func TestAcknowledge(t *testing.T) {
	p := newTestProvider(t)
	if a := p.Acknowledge(true, reason.Forwarded, 200); a.Status != http.StatusOK {
		t.Fatalf("accepted: %+v", a)
	}
	if a := p.Acknowledge(true, reason.Duplicate, 200); a.Status != http.StatusOK {
		t.Fatalf("duplicate: %+v", a)
	}
	for _, c := range reason.All {
		if c == reason.Forwarded || c == reason.Duplicate || c == reason.Watching {
			continue
		}
		a := p.Acknowledge(false, c, reason.HTTPStatus(c))
		if a.Status != reason.HTTPStatus(c) || !strings.Contains(string(a.Body), string(c)) {
			t.Errorf("%s: %d %s", c, a.Status, a.Body)
		}
	}
	// A refusal is never a 2xx, whatever status the caller passes.
	if a := p.Acknowledge(false, reason.Duplicate, 200); a.Status < 400 {
		t.Fatalf("refusal acknowledged with %d", a.Status)
	}
}

func TestNewRefusesBadSecrets(t *testing.T) {
	for name, secrets := range map[string][][]byte{
		"none":         nil,
		"api key":      {[]byte("sk_test_123")},
		"no prefix":    {[]byte("test_secret")},
		"prefix only":  {[]byte("whsec_")},
		"newline":      {[]byte("whsec_abc\n")},
		"space":        {[]byte("whsec_a bc")},
		"too many":     make([][]byte, MaxSecrets+1),
		"one bad of 2": {[]byte(testSecret), []byte("pk_live_x")},
	} {
		if _, err := New(secrets); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "abc") || strings.Contains(err.Error(), "123") {
			t.Errorf("%s: error quotes the secret: %v", name, err)
		}
	}
}
