package wechatpay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// vectorV3 builds the provider and request of a wechatpay_v3.json case.
func vectorV3(t *testing.T, c map[string]any, now time.Time) (*V3, *provider.Request) {
	t.Helper()
	p, err := NewV3(V3Config{
		MchID:         "1234567890",
		AppID:         "054aa7d7a2a54ab5898df65bd96f001c",
		APIv3Key:      []byte(c["api_v3_key"].(string)),
		PlatformCerts: [][]byte{[]byte(c["platform_cert_pem"].(string))},
		Now:           func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, v := range c["headers"].(map[string]any) {
		h.Set(k, v.(string))
	}
	return p, &provider.Request{Method: http.MethodPost, Header: h, Body: []byte(c["body"].(string)), Now: now}
}

func TestV3Vectors(t *testing.T) {
	v := loadVectors(t, "wechatpay_v3.json")
	good := v["notify_payscore_platform_cert_mode"]
	clock := time.Unix(int64(good["clock_unix"].(float64)), 0)

	t.Run("notify_payscore_platform_cert_mode", func(t *testing.T) {
		p, req := vectorV3(t, good, clock)
		// The signed string is what the vector says it is.
		msg := req.Header.Get(HeaderTimestamp) + "\n" + req.Header.Get(HeaderNonce) + "\n" + string(req.Body) + "\n"
		if msg != good["signed_content"].(string) {
			t.Fatal("signed content differs from the vector's")
		}
		certs, err := keys.ParseCertificates([]byte(good["platform_cert_pem"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if got := certSerial(certs[0]); got != good["platform_cert_serial_hex"] {
			t.Fatalf("serial %s, want %s", got, good["platform_cert_serial_hex"])
		}
		for _, viaConfigClock := range []bool{false, true} {
			r := *req
			if viaConfigClock {
				r.Now = time.Time{} // the provider's Now then decides
			}
			ver, err := p.VerifyNotify(&r)
			if err != nil {
				t.Fatalf("VerifyNotify: %v", err)
			}
			d := json.NewDecoder(strings.NewReader(good["expected_plaintext"].(string)))
			d.UseNumber()
			var want map[string]any
			if err := d.Decode(&want); err != nil {
				t.Fatal(err)
			}
			n := ver.Notification
			if !reflect.DeepEqual(n.Fields(), want) {
				t.Fatalf("Raw = %v, want %v", n.Fields(), want)
			}
			if !ver.Timestamp.Equal(clock) || ver.Nonce != "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz" {
				t.Fatalf("timestamp %v nonce %q", ver.Timestamp, ver.Nonce)
			}
			if n.EventID != "3119dfba-e649-5eec-ab1e-3412bc4d2e17" || n.Type != "PAYSCORE.USER_OPEN_SERVICE" ||
				n.Status != notification.StatusOther || n.Merchant != "1234567890" || n.Provider != V3Name {
				t.Fatalf("notification %+v", n)
			}
			if want := time.Date(2021, 6, 24, 8, 37, 26, 0, time.UTC); !n.OccurredAt.Equal(want) {
				t.Fatalf("OccurredAt %v, want the envelope's create_time %v", n.OccurredAt, want)
			}
		}
		// The resource alone decrypts to exactly the expected bytes.
		env, rerr := parseV3Envelope(req.Body, nil)
		if rerr != nil {
			t.Fatal(rerr)
		}
		pt, err := DecryptV3Resource([]byte(good["api_v3_key"].(string)), env.AssociatedData, env.Nonce, env.Ciphertext)
		if err != nil || string(pt) != good["expected_plaintext"].(string) {
			t.Fatalf("plaintext %q, %v", pt, err)
		}
	})

	t.Run("notify_timestamp_header_tampered", func(t *testing.T) {
		p, req := vectorV3(t, v["notify_timestamp_header_tampered"], clock)
		_, err := p.VerifyNotify(req)
		wantReason(t, err, reason.BadSignature, req.Body, "")
	})

	t.Run("notify_unknown_serial", func(t *testing.T) {
		p, req := vectorV3(t, v["notify_unknown_serial"], clock)
		_, err := p.VerifyNotify(req)
		wantReason(t, err, reason.UnknownKey, req.Body, "")
	})

	t.Run("aead_aes_gcm_util_vector", func(t *testing.T) {
		c := v["aead_aes_gcm_util_vector"]
		pt, err := DecryptV3Resource([]byte(c["api_v3_key"].(string)), c["associated_data"].(string), c["nonce"].(string), c["ciphertext"].(string))
		if err != nil || string(pt) != c["expected_plaintext"].(string) {
			t.Fatalf("got %q, %v", pt, err)
		}
		// One flipped ciphertext bit and the tag fails.
		ct, _ := base64.StdEncoding.DecodeString(c["ciphertext"].(string))
		ct[0] ^= 1
		if _, err := DecryptV3Resource([]byte(c["api_v3_key"].(string)), c["associated_data"].(string), c["nonce"].(string), base64.StdEncoding.EncodeToString(ct)); err == nil {
			t.Fatal("tampered ciphertext decrypted")
		}
	})
}

func TestV3Transaction(t *testing.T) {
	f := newV3Fixture(t)
	for name, s := range map[string]*V3Signer{"platform cert": f.signer, "public key": f.pubSigner} {
		t.Run(name, func(t *testing.T) {
			req := f.request(t, s, "TRANSACTION.SUCCESS", sampleTransaction())
			ver, err := f.p.VerifyNotify(req)
			if err != nil {
				t.Fatal(err)
			}
			n := ver.Notification
			if n.OutTradeNo != "ORDER-20260102-0001" || n.TransactionID != "4200001234202601021234567890" ||
				n.Amount != 1234 || n.Currency != "CNY" || n.Status != notification.StatusPaid ||
				n.Type != "TRANSACTION.SUCCESS" || n.Merchant != testMchID || !strings.HasPrefix(n.EventID, "EV-") {
				t.Fatalf("notification %+v", n)
			}
			if want := time.Date(2026, 1, 2, 3, 3, 59, 0, time.UTC); !n.OccurredAt.Equal(want) {
				t.Fatalf("OccurredAt %v", n.OccurredAt)
			}
			if amt := n.Fields()["amount"].(map[string]any)["total"]; amt != json.Number("1234") {
				t.Fatalf("Raw amount %#v", amt)
			}
			if !ver.Timestamp.Equal(testNow) || len(ver.Nonce) != 32 {
				t.Fatalf("timestamp %v nonce %q", ver.Timestamp, ver.Nonce)
			}
		})
	}
}

func TestV3TradeStates(t *testing.T) {
	f := newV3Fixture(t)
	for state, want := range map[string]notification.Status{
		"SUCCESS": notification.StatusPaid, "REFUND": notification.StatusRefunded,
		"NOTPAY": notification.StatusPending, "USERPAYING": notification.StatusPending,
		"CLOSED": notification.StatusClosed, "REVOKED": notification.StatusClosed,
		"PAYERROR": notification.StatusFailed, "SOMETHING_NEW": notification.StatusOther,
	} {
		tx := sampleTransaction()
		tx["trade_state"] = state
		ver, err := f.p.VerifyNotify(f.request(t, f.signer, "TRANSACTION."+state, tx))
		if err != nil {
			t.Fatalf("%s: %v", state, err)
		}
		if ver.Notification.Status != want {
			t.Fatalf("%s: status %s, want %s", state, ver.Notification.Status, want)
		}
	}
}

func TestV3Refund(t *testing.T) {
	f := newV3Fixture(t)
	for st, want := range map[string]notification.Status{
		"SUCCESS": notification.StatusRefunded, "CLOSED": notification.StatusOther, "ABNORMAL": notification.StatusFailed,
	} {
		r := sampleRefund()
		r["refund_status"] = st
		ver, err := f.p.VerifyNotify(f.request(t, f.signer, "REFUND."+st, r))
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		n := ver.Notification
		if n.Status != want || n.Amount != 1234 || n.RefundAmount != 234 || n.RefundID != "R-0001" || n.Currency != "CNY" || n.OutTradeNo != "ORDER-20260102-0001" ||
			n.TransactionID != "4200001234202601021234567890" || n.Type != "REFUND."+st {
			t.Fatalf("%s: %+v", st, n)
		}
	}
}

func TestV3KeyModes(t *testing.T) {
	testKeys(t)
	certOnly := newV3Fixture(t, func(c *V3Config) { c.PublicKeyID, c.PublicKey = "", nil })
	pubOnly := newV3Fixture(t, func(c *V3Config) { c.PlatformCerts = nil })
	both := newV3Fixture(t)
	tx := sampleTransaction()
	cases := []struct {
		name   string
		p      *V3
		s      *V3Signer
		reason reason.Code // "" = accepted
	}{
		{"cert mode, cert serial", certOnly.p, certOnly.signer, ""},
		{"cert mode, PUB_KEY_ID", certOnly.p, certOnly.pubSigner, reason.UnknownKey},
		{"public-key mode, PUB_KEY_ID", pubOnly.p, pubOnly.pubSigner, ""},
		{"public-key mode, cert serial", pubOnly.p, pubOnly.signer, reason.UnknownKey},
		{"both, cert serial", both.p, both.signer, ""},
		{"both, PUB_KEY_ID", both.p, both.pubSigner, ""},
		{"both, public key signing under the cert serial", both.p,
			&V3Signer{PlatformKey: pubModeKey, Serial: testSerialHex, APIv3Key: []byte(testV3Key)}, reason.BadSignature},
		{"both, cert key signing under PUB_KEY_ID", both.p,
			&V3Signer{PlatformKey: platformKey, Serial: testPubKeyID, APIv3Key: []byte(testV3Key)}, reason.BadSignature},
		{"serial with leading zero", both.p,
			&V3Signer{PlatformKey: platformKey, Serial: "0" + testSerialHex, APIv3Key: []byte(testV3Key)}, ""},
		{"serial in lower case", both.p,
			&V3Signer{PlatformKey: platformKey, Serial: strings.ToLower(testSerialHex), APIv3Key: []byte(testV3Key)}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := both.request(t, c.s, "TRANSACTION.SUCCESS", tx)
			_, err := c.p.VerifyNotify(req)
			if c.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, c.reason, req.Body, "")
		})
	}
}

func TestV3CertRotation(t *testing.T) {
	testKeys(t)
	oldCert := makeCert(t, otherKey, big.NewInt(0x1111), testNow.Add(-400*24*time.Hour), testNow.Add(-time.Hour))
	newCert := makeCert(t, platformKey, testSerial, testNow.Add(-time.Hour), testNow.Add(400*24*time.Hour))
	future := makeCert(t, pubModeKey, big.NewInt(0x2222), testNow.Add(time.Hour), testNow.Add(400*24*time.Hour))
	f := newV3Fixture(t, func(c *V3Config) {
		c.PlatformCerts = [][]byte{append(append([]byte{}, oldCert...), future...), newCert}
	})
	tx := sampleTransaction()
	if _, err := f.p.VerifyNotify(f.request(t, f.signer, "TRANSACTION.SUCCESS", tx)); err != nil {
		t.Fatalf("current certificate: %v", err)
	}
	req := f.request(t, &V3Signer{PlatformKey: otherKey, Serial: "1111", APIv3Key: []byte(testV3Key)}, "TRANSACTION.SUCCESS", tx)
	_, err := f.p.VerifyNotify(req)
	wantReason(t, err, reason.UnknownKey, req.Body, "expired")
	req = f.request(t, &V3Signer{PlatformKey: pubModeKey, Serial: "2222", APIv3Key: []byte(testV3Key)}, "TRANSACTION.SUCCESS", tx)
	_, err = f.p.VerifyNotify(req)
	wantReason(t, err, reason.UnknownKey, req.Body, "not valid before")
}

// envelope renders a notification body by hand, for bodies SignNotify
// would never produce.
func envelope(id, eventType string, res *V3Resource) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"create_time":"2026-01-02T11:04:05+08:00","resource_type":"encrypt-resource","event_type":%q,"summary":"支付成功","resource":{"original_type":%q,"algorithm":%q,"ciphertext":%q,"associated_data":%q,"nonce":%q}}`,
		id, eventType, res.OriginalType, res.Algorithm, res.Ciphertext, res.AssociatedData, res.Nonce))
}

func TestV3Rejections(t *testing.T) {
	f := newV3Fixture(t)
	good := f.request(t, f.signer, "TRANSACTION.SUCCESS", sampleTransaction())
	txJSON, _ := json.Marshal(sampleTransaction())
	encrypt := func(pt []byte) *V3Resource {
		r, err := f.signer.EncryptResource(pt, "transaction")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	withHeader := func(k, v string) *provider.Request {
		r := *good
		r.Header = good.Header.Clone()
		r.Header.Set(k, v)
		return &r
	}
	signed := func(body []byte) *provider.Request { return signedRequest(t, f.signer, body) }
	txWith := func(mut func(m map[string]any)) *provider.Request {
		m := sampleTransaction()
		mut(m)
		return f.request(t, f.signer, "TRANSACTION.SUCCESS", m)
	}

	cases := []struct {
		name   string
		req    func() *provider.Request
		code   reason.Code
		detail string
	}{
		{"tampered body", func() *provider.Request {
			r := *good
			r.Body = bytes.Replace(good.Body, []byte(`"id":"EV-`), []byte(`"id":"EX-`), 1)
			return &r
		}, reason.BadSignature, "does not verify"},
		{"tampered nonce header", func() *provider.Request { return withHeader(HeaderNonce, "x"+good.Header.Get(HeaderNonce)[1:]) }, reason.BadSignature, ""},
		{"tampered timestamp header", func() *provider.Request { return withHeader(HeaderTimestamp, "1767323046") }, reason.BadSignature, ""},
		{"unknown serial", func() *provider.Request { return withHeader(HeaderSerial, "ABCDEF0123") }, reason.UnknownKey, ""},
		{"unknown public key id", func() *provider.Request { return withHeader(HeaderSerial, "PUB_KEY_ID_999") }, reason.UnknownKey, ""},
		{"probe signature", func() *provider.Request {
			return withHeader(HeaderSignature, "WECHATPAY/SIGNTEST/"+good.Header.Get(HeaderSignature))
		}, reason.BadSignature, "probe"},
		{"signature not base64", func() *provider.Request { return withHeader(HeaderSignature, "%%%") }, reason.BadSignature, ""},
		{"signature by another key", func() *provider.Request {
			s := &V3Signer{PlatformKey: otherKey, Serial: testSerialHex, APIv3Key: []byte(testV3Key)}
			return f.request(t, s, "TRANSACTION.SUCCESS", sampleTransaction())
		}, reason.BadSignature, ""},
		{"wrong Signature-Type", func() *provider.Request { return withHeader(HeaderSignatureType, "WECHATPAY2-SM2-WITH-SM3") }, reason.BadSignature, "Signature-Type"},
		{"empty Signature-Type", func() *provider.Request { return withHeader(HeaderSignatureType, "") }, reason.BadSignature, ""},
		{"missing timestamp", func() *provider.Request { r := withHeader("X", ""); r.Header.Del(HeaderTimestamp); return r }, reason.BadSignature, "missing"},
		{"missing nonce", func() *provider.Request { r := withHeader("X", ""); r.Header.Del(HeaderNonce); return r }, reason.BadSignature, "missing"},
		{"missing serial", func() *provider.Request { r := withHeader("X", ""); r.Header.Del(HeaderSerial); return r }, reason.BadSignature, "missing"},
		{"missing signature", func() *provider.Request { r := withHeader("X", ""); r.Header.Del(HeaderSignature); return r }, reason.BadSignature, "missing"},
		{"repeated signature header", func() *provider.Request {
			r := withHeader("X", "")
			r.Header.Add(HeaderSignature, "AAAA")
			return r
		}, reason.Malformed, "repeated"},
		{"signed non-integer timestamp", func() *provider.Request {
			h, _ := f.signer.SignResponse(good.Body, testNow)
			// re-sign with a timestamp that is not unix seconds
			ts := "1767323045.5"
			sig, _ := signV3Message(platformKey, ts+"\n"+h.Get(HeaderNonce)+"\n", good.Body)
			h.Set(HeaderTimestamp, ts)
			h.Set(HeaderSignature, sig)
			return &provider.Request{Header: h, Body: good.Body, Now: testNow}
		}, reason.Malformed, "unix seconds"},
		{"decryption with another API v3 key", func() *provider.Request {
			s := &V3Signer{PlatformKey: platformKey, Serial: testSerialHex, APIv3Key: []byte("another-32-byte-api-v3-key-00000")}
			return f.request(t, s, "TRANSACTION.SUCCESS", sampleTransaction())
		}, reason.BadSignature, "does not decrypt"},
		{"tampered ciphertext", func() *provider.Request {
			r := encrypt(txJSON)
			ct, _ := base64.StdEncoding.DecodeString(r.Ciphertext)
			ct[len(ct)/2] ^= 0x40
			r.Ciphertext = base64.StdEncoding.EncodeToString(ct)
			return signed(envelope("EV-1", "TRANSACTION.SUCCESS", r))
		}, reason.BadSignature, "does not decrypt"},
		{"tampered associated data", func() *provider.Request {
			r := encrypt(txJSON)
			r.AssociatedData = "refund"
			return signed(envelope("EV-1", "TRANSACTION.SUCCESS", r))
		}, reason.BadSignature, "does not decrypt"},
		{"ciphertext not base64", func() *provider.Request {
			r := encrypt(txJSON)
			r.Ciphertext = "!!" + r.Ciphertext
			return signed(envelope("EV-1", "TRANSACTION.SUCCESS", r))
		}, reason.BadSignature, "base64"},
		{"short resource nonce", func() *provider.Request {
			r := encrypt(txJSON)
			r.Nonce = r.Nonce[:8]
			return signed(envelope("EV-1", "TRANSACTION.SUCCESS", r))
		}, reason.BadSignature, "nonce"},
		{"wrong algorithm", func() *provider.Request {
			r := encrypt(txJSON)
			r.Algorithm = "AEAD_AES_128_GCM"
			return signed(envelope("EV-1", "TRANSACTION.SUCCESS", r))
		}, reason.BadSignature, "algorithm"},
		{"duplicate top-level key", func() *provider.Request {
			b := envelope("EV-1", "TRANSACTION.SUCCESS", encrypt(txJSON))
			return signed(bytes.Replace(b, []byte(`{"id":"EV-1",`), []byte(`{"id":"EV-1","id":"EV-2",`), 1))
		}, reason.Malformed, "occurs twice"},
		{"duplicate key in resource", func() *provider.Request {
			b := envelope("EV-1", "TRANSACTION.SUCCESS", encrypt(txJSON))
			return signed(bytes.Replace(b, []byte(`"resource":{`), []byte(`"resource":{"algorithm":"X",`), 1))
		}, reason.Malformed, "occurs twice"},
		{"key differing only in case", func() *provider.Request {
			b := envelope("EV-1", "TRANSACTION.SUCCESS", encrypt(txJSON))
			return signed(bytes.Replace(b, []byte(`{"id":"EV-1",`), []byte(`{"ID":"EV-1",`), 1))
		}, reason.Malformed, "id missing"},
		{"duplicate key in plaintext", func() *provider.Request {
			pt := bytes.Replace(txJSON, []byte(`{`), []byte(`{"out_trade_no":"OTHER",`), 1)
			return signed(envelope("EV-1", "TRANSACTION.SUCCESS", encrypt(pt)))
		}, reason.Malformed, "occurs twice"},
		{"trailing data after JSON", func() *provider.Request {
			return signed(append(envelope("EV-1", "TRANSACTION.SUCCESS", encrypt(txJSON)), []byte(` {}`)...))
		}, reason.Malformed, "data after"},
		{"body not JSON", func() *provider.Request { return signed([]byte(`<xml></xml>`)) }, reason.Malformed, ""},
		{"body a JSON array", func() *provider.Request { return signed([]byte(`[1,2]`)) }, reason.Malformed, ""},
		{"resource missing", func() *provider.Request { return signed([]byte(`{"id":"1","event_type":"TRANSACTION.SUCCESS"}`)) }, reason.Malformed, "resource"},
		{"id not a string", func() *provider.Request {
			b := envelope("EV-1", "TRANSACTION.SUCCESS", encrypt(txJSON))
			return signed(bytes.Replace(b, []byte(`"id":"EV-1"`), []byte(`"id":1`), 1))
		}, reason.Malformed, "not a string"},
		{"deeply nested", func() *provider.Request {
			return signed([]byte(`{"id":"1","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`))
		}, reason.Malformed, "nested deeper"},
		{"mchid mismatch", func() *provider.Request { return txWith(func(m map[string]any) { m["mchid"] = "1900000002" }) }, reason.BadSignature, "mchid mismatch"},
		{"mchid missing", func() *provider.Request { return txWith(func(m map[string]any) { delete(m, "mchid") }) }, reason.BadSignature, "mchid mismatch"},
		{"appid mismatch", func() *provider.Request { return txWith(func(m map[string]any) { m["appid"] = "wx0000" }) }, reason.BadSignature, "appid mismatch"},
		{"amount with decimals", func() *provider.Request {
			return txWith(func(m map[string]any) { m["amount"] = map[string]any{"total": json.Number("12.34"), "currency": "CNY"} })
		}, reason.Malformed, "amount.total"},
		{"amount negative", func() *provider.Request {
			return txWith(func(m map[string]any) { m["amount"] = map[string]any{"total": -1, "currency": "CNY"} })
		}, reason.Malformed, "amount.total"},
		{"amount as string", func() *provider.Request {
			return txWith(func(m map[string]any) { m["amount"] = map[string]any{"total": "1234"} })
		}, reason.Malformed, "amount.total"},
		{"amount missing", func() *provider.Request { return txWith(func(m map[string]any) { delete(m, "amount") }) }, reason.Malformed, "amount"},
		{"out_trade_no missing", func() *provider.Request { return txWith(func(m map[string]any) { delete(m, "out_trade_no") }) }, reason.Malformed, "out_trade_no"},
		{"paid without transaction_id", func() *provider.Request { return txWith(func(m map[string]any) { delete(m, "transaction_id") }) }, reason.Malformed, "transaction_id"},
		{"bad success_time", func() *provider.Request { return txWith(func(m map[string]any) { m["success_time"] = "yesterday" }) }, reason.Malformed, "success_time"},
		{"plaintext not JSON", func() *provider.Request {
			return signed(envelope("EV-1", "TRANSACTION.SUCCESS", encrypt([]byte("mchid=1900000001"))))
		}, reason.Malformed, "decrypted resource"},
		{"refund without out_refund_no", func() *provider.Request {
			r := sampleRefund()
			delete(r, "out_refund_no")
			return f.request(t, f.signer, "REFUND.SUCCESS", r)
		}, reason.Malformed, "out_refund_no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req()
			ver, err := f.p.VerifyNotify(req)
			if ver != nil {
				t.Fatalf("accepted: %+v", ver.Notification)
			}
			wantReason(t, err, c.code, req.Body, c.detail)
		})
	}
	if _, err := f.p.VerifyNotify(nil); reason.CodeOf(err, "") != reason.Malformed {
		t.Fatalf("nil request: %v", err)
	}
}

// The pipeline checks the window; VerifyNotify must return the signed
// time for any age, never judge it, and never believe an unsigned one.
func TestV3ReturnsTimestampForPipeline(t *testing.T) {
	f := newV3Fixture(t)
	old := testNow.Add(-time.Hour)
	h, body, err := f.signer.SignNotify("TRANSACTION.SUCCESS", sampleTransaction(), "EV-old", old)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := f.p.VerifyNotify(&provider.Request{Header: h, Body: body, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !ver.Timestamp.Equal(old) {
		t.Fatalf("timestamp %v, want %v", ver.Timestamp, old)
	}
}

func TestV3Acknowledge(t *testing.T) {
	f := newV3Fixture(t)
	if a := f.p.Acknowledge(true, reason.Forwarded, 200); a.Status != 204 || a.Body != nil || a.ContentType != "" {
		t.Fatalf("ok ack %+v", a)
	}
	if a := f.p.Acknowledge(true, reason.Duplicate, 200); a.Status != 204 {
		t.Fatalf("duplicate ack %+v", a)
	}
	for _, c := range []struct {
		code   reason.Code
		status int
		want   int
	}{
		{reason.BadSignature, 401, 401},
		{reason.QueryUnavailable, 503, 503},
		{reason.Malformed, 0, 400},
		{reason.UpstreamFailed, 200, 502}, // a refusal never reads as success
		{reason.Forwarded, 0, 500},
	} {
		a := f.p.Acknowledge(false, c.code, c.status)
		var body map[string]string
		if err := json.Unmarshal(a.Body, &body); err != nil {
			t.Fatal(err)
		}
		if a.Status != c.want || a.ContentType != "application/json" || body["code"] != "FAIL" || body["message"] != string(c.code) || len(body) != 2 {
			t.Fatalf("%s/%d: %d %s %s", c.code, c.status, a.Status, a.ContentType, a.Body)
		}
	}
	if f.p.Name() != "wechatpay_v3" || f.p.Traits().Method != http.MethodPost || f.p.Traits().Passthrough || !f.p.CanQuery() {
		t.Fatal("name/traits")
	}
}

func TestNewV3Errors(t *testing.T) {
	testKeys(t)
	cert := makeCert(t, platformKey, testSerial, testNow.Add(-time.Hour), testNow.Add(time.Hour))
	base := func() V3Config {
		return V3Config{MchID: testMchID, APIv3Key: []byte(testV3Key), PlatformCerts: [][]byte{cert}}
	}
	cases := map[string]struct {
		mut  func(*V3Config)
		want string
	}{
		"no mch_id":           {func(c *V3Config) { c.MchID = "" }, "mch_id"},
		"key with newline":    {func(c *V3Config) { c.APIv3Key = []byte(testV3Key + "\n") }, "got 33"},
		"no key":              {func(c *V3Config) { c.APIv3Key = nil }, "api_v3_key"},
		"no verification key": {func(c *V3Config) { c.PlatformCerts = nil }, "platform_cert_file or public_key_id"},
		"bad cert":            {func(c *V3Config) { c.PlatformCerts = [][]byte{[]byte("not a cert " + testV3Key)} }, "platform_cert_file 1"},
		"id without key":      {func(c *V3Config) { c.PublicKeyID = testPubKeyID }, "go together"},
		"key without id":      {func(c *V3Config) { c.PublicKey = providertest.PublicPEM(t, &pubModeKey.PublicKey) }, "go together"},
		"id without prefix": {func(c *V3Config) {
			c.PublicKeyID, c.PublicKey = "D7CE59D1F522D701", providertest.PublicPEM(t, &pubModeKey.PublicKey)
		}, "PUB_KEY_ID_"},
		"bad public key":             {func(c *V3Config) { c.PublicKeyID, c.PublicKey = testPubKeyID, []byte("garbage") }, "public_key"},
		"serial without private key": {func(c *V3Config) { c.MerchantSerial = "ABC" }, "merchant_serial and private_key"},
		"bad private key": {func(c *V3Config) {
			c.MerchantSerial, c.PrivateKey = "ABC", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}, "private_key"},
		"ftp endpoint": {func(c *V3Config) { c.Endpoint = "ftp://x" }, "scheme"},
		"two certs, one serial": {func(c *V3Config) {
			c.PlatformCerts = append(c.PlatformCerts, makeCert(t, otherKey, testSerial, testNow, testNow.Add(time.Hour)))
		}, "two different certificates"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			c.mut(&cfg)
			_, err := NewV3(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			assertNoSecrets(t, err.Error(), nil)
		})
	}
	// The same certificate twice (two files holding it) is fine, and 16- and
	// 24-byte test keys are accepted.
	for _, k := range []string{"testMchAPIv3Key0", "testMchAPIv3Key0testMchA"} {
		cfg := base()
		cfg.APIv3Key = []byte(k)
		cfg.PlatformCerts = append(cfg.PlatformCerts, cert)
		if _, err := NewV3(cfg); err != nil {
			t.Fatal(err)
		}
	}
}

// Concurrent use, for -race.
func TestV3Concurrent(t *testing.T) {
	f := newV3Fixture(t)
	req := f.request(t, f.signer, "TRANSACTION.SUCCESS", sampleTransaction())
	done := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, err := f.p.VerifyNotify(req)
			done <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
