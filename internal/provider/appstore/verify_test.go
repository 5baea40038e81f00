package appstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

func TestGenuineNotification(t *testing.T) {
	f := newFixture(t)
	v, err := f.verify(f.notify(t, "ONE_TIME_CHARGE", f.txn(nil)))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	want := notification.Notification{
		Provider: Name, EventID: "0f1e2d3c-4b5a-4697-8877-665544332211", Type: "ONE_TIME_CHARGE",
		OutTradeNo: "5b3c0f8e-0d4e-4f57-9c1e-2d8b7a6f1e30", TransactionID: "2000000123456789",
		Amount: 99, Currency: "USD", Status: notification.StatusPaid, Merchant: testBundle,
		OccurredAt: f.now.UTC(),
	}
	n.Raw = nil
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("notification\n got %+v\nwant %+v", n, want)
	}
	// signedDate is the event time (max_age), never a send time (tolerance).
	if !v.EventTime.Equal(f.now) || !v.Timestamp.IsZero() || v.Nonce != "" {
		t.Fatalf("EventTime %v Timestamp %v Nonce %q", v.EventTime, v.Timestamp, v.Nonce)
	}
	data := v.Notification.Raw["data"].(map[string]any)
	if _, ok := data["signedTransactionInfo"]; ok {
		t.Fatal("raw still holds the signed transaction")
	}
	if info, ok := data["transactionInfo"].(map[string]any); !ok || info["transactionId"] != "2000000123456789" {
		t.Fatalf("raw transactionInfo = %v", data["transactionInfo"])
	}
}

func TestOutTradeNoFallsBackToOriginalTransaction(t *testing.T) {
	f := newFixture(t)
	v, err := f.verify(f.notify(t, "DID_RENEW", f.txn(map[string]any{"appAccountToken": nil})))
	if err != nil {
		t.Fatal(err)
	}
	if v.Notification.OutTradeNo != "2000000100000000" {
		t.Fatalf("out_trade_no %q", v.Notification.OutTradeNo)
	}
}

func TestRefundAmounts(t *testing.T) {
	f := newFixture(t)
	revoked := f.now.Add(-time.Second).UnixMilli()
	for _, c := range []struct {
		name   string
		set    map[string]any
		refund int64
	}{
		{"full, no percentage", map[string]any{"revocationDate": revoked}, 99},
		{"full", map[string]any{"revocationDate": revoked, "revocationType": "REFUND_FULL", "revocationPercentage": 100000}, 99},
		{"prorated, whole cents", map[string]any{"price": 10000, "revocationDate": revoked, "revocationType": "REFUND_PRORATED", "revocationPercentage": 50000}, 500},
		{"prorated, not whole cents: left to raw", map[string]any{"revocationDate": revoked, "revocationType": "REFUND_PRORATED", "revocationPercentage": 33333}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := f.verify(f.notify(t, "REFUND", f.txn(c.set)))
			if err != nil {
				t.Fatal(err)
			}
			n := v.Notification
			if n.Status != notification.StatusRefunded || n.RefundAmount != c.refund {
				t.Fatalf("status %s refund %d; want refunded %d", n.Status, n.RefundAmount, c.refund)
			}
			if want := c.set["price"]; want != nil && n.Amount != int64(want.(int))/10 {
				t.Fatalf("amount %d", n.Amount)
			}
		})
	}
}

func TestStatusMap(t *testing.T) {
	for typ, want := range map[string]notification.Status{
		"ONE_TIME_CHARGE": notification.StatusPaid, "SUBSCRIBED": notification.StatusPaid,
		"DID_RENEW": notification.StatusPaid, "OFFER_REDEEMED": notification.StatusPaid,
		"REFUND_REVERSED": notification.StatusPaid, "REFUND": notification.StatusRefunded,
		"REVOKE": notification.StatusClosed, "EXPIRED": notification.StatusClosed,
		"GRACE_PERIOD_EXPIRED": notification.StatusClosed, "DID_FAIL_TO_RENEW": notification.StatusFailed,
		"TEST": notification.StatusOther, "CONSUMPTION_REQUEST": notification.StatusOther,
		"DID_CHANGE_RENEWAL_PREF": notification.StatusOther, "PRICE_INCREASE": notification.StatusOther,
		"REFUND_DECLINED": notification.StatusOther, "SOMETHING_NEW": notification.StatusOther,
	} {
		if got := statusFor(typ); got != want {
			t.Errorf("%s: %s, want %s", typ, got, want)
		}
	}
}

func TestMilliUnitConversion(t *testing.T) {
	for _, c := range []struct {
		price    int64
		currency string
		minor    int64
		ok       bool
	}{
		{990, "USD", 99, true},
		{0, "USD", 0, true},
		{995, "USD", 0, false}, // half a cent
		{120000, "JPY", 120, true},
		{120500, "JPY", 0, false},
		{1234, "KWD", 1234, true},
		{1234, "BHD", 1234, true},
		{5, "CLF", 50, true},
		{1999000, "KRW", 1999, true},
		{-10, "USD", 0, false},
		{1 << 62, "CLF", 0, false}, // overflow
	} {
		got, err := milliToMinor(c.price, c.currency)
		if (err == nil) != c.ok || got != c.minor {
			t.Errorf("%d %s: %d, %v; want %d ok=%v", c.price, c.currency, got, err, c.minor, c.ok)
		}
		if c.ok {
			back, err := minorToMilli(got, c.currency)
			if err != nil || back != c.price {
				t.Errorf("minorToMilli(%d %s) = %d, %v", got, c.currency, back, err)
			}
		}
	}
}

func TestInexactPriceIsMalformed(t *testing.T) {
	f := newFixture(t)
	_, err := f.verify(f.notify(t, "ONE_TIME_CHARGE", f.txn(map[string]any{"price": 995})))
	wantCode(t, err, reason.Malformed)
	_, err = f.verify(f.notify(t, "ONE_TIME_CHARGE", f.txn(map[string]any{"price": json.Number("990.0")})))
	wantCode(t, err, reason.Malformed)
	_, err = f.verify(f.notify(t, "ONE_TIME_CHARGE", f.txn(map[string]any{"price": nil})))
	wantCode(t, err, reason.Malformed)
	_, err = f.verify(f.notify(t, "ONE_TIME_CHARGE", f.txn(map[string]any{"currency": "usd"})))
	wantCode(t, err, reason.Malformed)
}

// The algorithm is ES256 because payguard says so, whatever the header
// says: alg none, HS256 keyed with the public certificate, RS256.
func TestOnlyES256(t *testing.T) {
	f := newFixture(t)
	payload, _ := json.Marshal(f.payload("ONE_TIME_CHARGE", f.sign(t, f.txn(nil)), nil))
	forge := func(alg any, sign func(input string) []byte) []byte {
		h, _ := json.Marshal(map[string]any{"alg": alg, "x5c": f.signer.x5c})
		input := b64url.EncodeToString(h) + "." + b64url.EncodeToString(payload)
		return body(t, input+"."+b64url.EncodeToString(sign(input)))
	}
	hs256 := func(input string) []byte {
		m := hmac.New(sha256.New, f.pki.leaf.Raw) // the key confusion attack
		m.Write([]byte(input))
		return m.Sum(nil)
	}
	for name, b := range map[string][]byte{
		"none":    forge("none", func(string) []byte { return nil }),
		"None":    forge("None", func(string) []byte { return nil }),
		"HS256":   forge("HS256", hs256),
		"RS256":   forge("RS256", func(string) []byte { return make([]byte, 256) }),
		"ES384":   forge("ES384", func(string) []byte { return make([]byte, 96) }),
		"es256":   forge("es256", func(string) []byte { return make([]byte, 64) }),
		"number":  forge(256, func(string) []byte { return make([]byte, 64) }),
		"missing": forge(nil, func(string) []byte { return make([]byte, 64) }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.verify(b)
			wantCode(t, err, reason.BadSignature)
		})
	}
}

func TestCritHeaderRefused(t *testing.T) {
	f := newFixture(t)
	s, err := f.signer.signWithHeader(map[string]any{"alg": "ES256", "x5c": f.signer.x5c, "crit": []string{"exp"}}, f.payload("TEST", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.verify(body(t, s))
	wantCode(t, err, reason.BadSignature)
}

func TestSignatureEncoding(t *testing.T) {
	f := newFixture(t)
	genuine := f.sign(t, f.payload("TEST", "", nil))
	if _, err := f.verify(body(t, genuine)); err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(genuine, '.')
	raw, _ := b64url.DecodeString(genuine[i+1:])
	// The same signature in ASN.1 DER form, as crypto/ecdsa's SignASN1
	// writes it, is not a JWS signature.
	der := append([]byte{0x30, 0x44, 0x02, 0x20}, raw[:32]...)
	der = append(append(der, 0x02, 0x20), raw[32:]...)
	for name, sig := range map[string]string{
		"flipped":   flipSignature(genuine)[i+1:],
		"DER":       b64url.EncodeToString(der),
		"truncated": b64url.EncodeToString(raw[:63]),
		"empty":     "",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.verify(body(t, genuine[:i+1]+sig))
			wantCode(t, err, reason.BadSignature)
		})
	}
	// Padding or non-canonical base64url is framing, not a signature.
	_, err := f.verify(body(t, genuine+"="))
	wantCode(t, err, reason.Malformed)
}

func TestIdentityMustMatch(t *testing.T) {
	f := newFixture(t)
	txn := f.sign(t, f.txn(nil))
	for name, c := range map[string]struct {
		data map[string]any
		code reason.Code
	}{
		"other bundle":      {map[string]any{"bundleId": "com.example.other", "environment": EnvProduction, "signedTransactionInfo": txn}, reason.BadSignature},
		"sandbox":           {map[string]any{"bundleId": testBundle, "environment": EnvSandbox, "signedTransactionInfo": txn}, reason.BadSignature},
		"no bundle":         {map[string]any{"environment": EnvProduction, "signedTransactionInfo": txn}, reason.BadSignature},
		"bundle not string": {map[string]any{"bundleId": 7, "environment": EnvProduction}, reason.Malformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.verify(body(t, f.sign(t, f.payload("ONE_TIME_CHARGE", "", map[string]any{"data": c.data}))))
			wantCode(t, err, c.code)
		})
	}
	t.Run("summary", func(t *testing.T) {
		summary := map[string]any{"bundleId": testBundle, "environment": EnvProduction, "requestIdentifier": "r1"}
		v, err := f.verify(body(t, f.sign(t, f.payload("RENEWAL_EXTENSION", "", map[string]any{"data": nil, "summary": summary}))))
		if err != nil || v.Notification.Status != notification.StatusOther {
			t.Fatalf("summary notification: %v", err)
		}
	})
	t.Run("external purchase token", func(t *testing.T) {
		tok := map[string]any{"bundleId": testBundle, "externalPurchaseId": "SANDBOX_1a2b"}
		_, err := f.verify(body(t, f.sign(t, f.payload("EXTERNAL_PURCHASE_TOKEN", "", map[string]any{"data": nil, "externalPurchaseToken": tok}))))
		wantCode(t, err, reason.BadSignature) // a Sandbox token on a Production route
		tok["externalPurchaseId"] = "1a2b"
		if _, err := f.verify(body(t, f.sign(t, f.payload("EXTERNAL_PURCHASE_TOKEN", "", map[string]any{"data": nil, "externalPurchaseToken": tok})))); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNestedJWSVerified(t *testing.T) {
	f := newFixture(t)
	outer := func(t *testing.T, txnJWS string, extra map[string]any) []byte {
		p := f.payload("ONE_TIME_CHARGE", txnJWS, nil)
		for k, v := range extra {
			p["data"].(map[string]any)[k] = v
		}
		return body(t, f.sign(t, p))
	}
	forged, forgedKey, err := forgedLeaf(f.now)
	if err != nil {
		t.Fatal(err)
	}
	forger := appleSigner{key: forgedKey, x5c: x5cOf(forged, f.pki.inter, f.pki.root)}
	forgedTxn, err := forger.sign(f.txn(nil))
	if err != nil {
		t.Fatal(err)
	}
	genuine := f.sign(t, f.txn(nil))
	tampered := swapPayload(genuine, mustJSON(t, f.txn(map[string]any{"price": 1})))
	for name, b := range map[string][]byte{
		"transaction signature flipped":   outer(t, flipSignature(genuine), nil),
		"transaction payload swapped":     outer(t, tampered, nil),
		"transaction by a forged leaf":    outer(t, forgedTxn, nil),
		"transaction for another bundle":  outer(t, f.sign(t, f.txn(map[string]any{"bundleId": "com.example.other"})), nil),
		"transaction for the sandbox":     outer(t, f.sign(t, f.txn(map[string]any{"environment": EnvSandbox})), nil),
		"renewal signature flipped":       outer(t, genuine, map[string]any{"signedRenewalInfo": flipSignature(f.sign(t, map[string]any{"environment": EnvProduction}))}),
		"renewal for the sandbox":         outer(t, genuine, map[string]any{"signedRenewalInfo": f.sign(t, map[string]any{"environment": EnvSandbox})}),
		"transaction alg none":            outer(t, mustUnsigned(t, f, f.txn(nil)), nil),
		"transaction without a chain":     outer(t, mustSignHeader(t, f, map[string]any{"alg": "ES256"}, f.txn(nil)), nil),
		"transaction with a 2-cert chain": outer(t, mustSignHeader(t, f, map[string]any{"alg": "ES256", "x5c": f.signer.x5c[:2]}, f.txn(nil)), nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.verify(b)
			wantCode(t, err, reason.BadSignature)
		})
	}
	v, err := f.verify(outer(t, genuine, map[string]any{"signedRenewalInfo": f.sign(t, map[string]any{"environment": EnvProduction, "autoRenewStatus": 1})}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Notification.Raw["data"].(map[string]any)["renewalInfo"]; !ok {
		t.Fatal("raw lacks the decoded renewalInfo")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnsigned(t *testing.T, f *fixture, payload any) string {
	t.Helper()
	s, err := unsignedJWS(map[string]any{"alg": "none", "x5c": f.signer.x5c}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSignHeader(t *testing.T, f *fixture, header map[string]any, payload any) string {
	t.Helper()
	s, err := f.signer.signWithHeader(header, payload)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMalformedBodies(t *testing.T) {
	f := newFixture(t)
	genuine := f.sign(t, f.payload("ONE_TIME_CHARGE", f.sign(t, f.txn(nil)), nil))
	for name, b := range map[string]string{
		"empty":             ``,
		"not JSON":          `signedPayload=x`,
		"array":             `["` + genuine + `"]`,
		"no signedPayload":  `{"payload":"` + genuine + `"}`,
		"not a string":      `{"signedPayload":7}`,
		"empty string":      `{"signedPayload":""}`,
		"duplicate key":     `{"signedPayload":"` + genuine + `","signedPayload":"` + genuine + `"}`,
		"trailing data":     `{"signedPayload":"` + genuine + `"} {}`,
		"two parts":         `{"signedPayload":"a.b"}`,
		"four parts":        `{"signedPayload":"` + genuine + `.x"}`,
		"header not base64": `{"signedPayload":"!!.e30.AA"}`,
		"header not JSON":   `{"signedPayload":"` + b64url.EncodeToString([]byte("alg")) + `.e30.AA"}`,
		"deep":              `{"signedPayload":"` + genuine + `","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.verify([]byte(b))
			wantCode(t, err, reason.Malformed)
		})
	}
	for name, set := range map[string]map[string]any{
		"no notificationUUID":  {"notificationUUID": nil},
		"odd notificationUUID": {"notificationUUID": "a b\r\nX-Evil: 1"},
		"no signedDate":        {"signedDate": nil},
		"signedDate a string":  {"signedDate": "1700000000000"},
		"no notificationType":  {"notificationType": nil},
		"paid, no transaction": {"data": map[string]any{"bundleId": testBundle, "environment": EnvProduction}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.verify(body(t, f.sign(t, f.payload("ONE_TIME_CHARGE", f.sign(t, f.txn(nil)), set))))
			wantCode(t, err, reason.Malformed)
		})
	}
}

func TestURLQueryMayNotShadowTheBody(t *testing.T) {
	f := newFixture(t)
	b := f.notify(t, "ONE_TIME_CHARGE", f.txn(nil))
	for _, q := range []string{"signedPayload=x", "a=1&SIGNEDPAYLOAD=x", "signedPayload[]=x", "signed%50ayload=x"} {
		_, err := f.p.VerifyNotify(&provider.Request{Method: "POST", RawQuery: q, Body: b, Now: f.now})
		wantCode(t, err, reason.Malformed)
	}
	if _, err := f.p.VerifyNotify(&provider.Request{Method: "POST", RawQuery: "route=apple", Body: b, Now: f.now}); err != nil {
		t.Fatal(err)
	}
}

func TestAcknowledge(t *testing.T) {
	p := newFixture(t).p
	if a := p.Acknowledge(true, reason.Forwarded, 200); a.Status != http.StatusOK {
		t.Fatalf("accepted: %d", a.Status)
	}
	if a := p.Acknowledge(true, reason.Duplicate, 200); a.Status != http.StatusOK {
		t.Fatalf("duplicate: %d", a.Status)
	}
	for code, want := range map[reason.Code]int{
		reason.InFlight:         http.StatusServiceUnavailable, // Apple retries after 5xx only
		reason.StoreUnavailable: http.StatusServiceUnavailable,
		reason.QueryUnavailable: http.StatusServiceUnavailable,
		reason.UpstreamFailed:   http.StatusBadGateway,
		reason.BadSignature:     http.StatusUnauthorized,
		reason.Malformed:        http.StatusBadRequest,
		reason.QueryMismatch:    http.StatusForbidden,
		reason.StaleTimestamp:   http.StatusUnauthorized,
	} {
		if a := p.Acknowledge(false, code, reason.HTTPStatus(code)); a.Status != want {
			t.Errorf("%s: %d, want %d", code, a.Status, want)
		}
	}
	if a := p.Acknowledge(false, reason.BadSignature, 0); a.Status != http.StatusUnauthorized {
		t.Errorf("no status given: %d", a.Status)
	}
	tr := p.Traits()
	if tr.Method != http.MethodPost || tr.DefaultDedupTTL != 168*time.Hour || tr.Passthrough {
		t.Fatalf("traits %+v", tr)
	}
}
