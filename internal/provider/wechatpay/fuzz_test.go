package wechatpay

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// mustReason fails unless err is nil or a *reason.Error (the Provider
// contract), and unless a success carries a usable notification.
func mustReason(t *testing.T, ver *provider.Verified, err error) {
	t.Helper()
	if err != nil {
		var re *reason.Error
		if !errors.As(err, &re) {
			t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
		}
		if ver != nil {
			t.Fatal("both a result and an error")
		}
		assertNoSecrets(t, err.Error(), nil)
		return
	}
	n := ver.Notification
	if n.EventID == "" || !n.Status.Valid() || n.Amount < 0 || n.Fields() == nil {
		t.Fatalf("accepted an unusable notification %+v", n)
	}
}

// FuzzParseV3Envelope drives the v3 envelope parser and the whole
// VerifyNotify path. The provider is the official vector's (its platform
// certificate, API v3 key and clock), so no RSA key is generated or used to
// sign per input: under fuzzing's coverage instrumentation RSA private-key
// operations are slow enough to starve the fuzzer. Per input:
//   - body and the four Wechatpay-* header values go through VerifyNotify;
//     the first seed is the vector's genuine notification, so the fuzzer
//     starts from a request that verifies;
//   - body goes through parseV3Envelope and through everything after the
//     signature (parseNotification), which fuzzed bodies could not reach
//     through a signature check;
//   - plaintext, encrypted under the real API v3 key inside an envelope of
//     eventType, reaches the transaction/refund/other parsers behind a
//     valid GCM tag, which the fuzzer could never forge.
func FuzzParseV3Envelope(f *testing.F) {
	v := loadVectors(f, "wechatpay_v3.json")
	good := v["notify_payscore_platform_cert_mode"]
	clock := time.Unix(int64(good["clock_unix"].(float64)), 0)
	p, err := NewV3(V3Config{
		MchID:         "1234567890",
		AppID:         "054aa7d7a2a54ab5898df65bd96f001c",
		APIv3Key:      []byte(good["api_v3_key"].(string)),
		PlatformCerts: [][]byte{[]byte(good["platform_cert_pem"].(string))},
		Now:           func() time.Time { return clock },
	})
	if err != nil {
		f.Fatal(err)
	}
	signer := &V3Signer{APIv3Key: []byte(good["api_v3_key"].(string))}
	hv := func(k string) string { return good["headers"].(map[string]any)[k].(string) }
	tx := sampleTransaction()
	tx["mchid"], tx["appid"] = "1234567890", "054aa7d7a2a54ab5898df65bd96f001c"
	rf := sampleRefund()
	rf["mchid"] = "1234567890"
	txJSON, _ := json.Marshal(tx)
	rfJSON, _ := json.Marshal(rf)
	body := []byte(good["body"].(string))
	seedHeader := http.Header{}
	for _, k := range []string{HeaderTimestamp, HeaderNonce, HeaderSerial, HeaderSignature} {
		seedHeader.Set(k, hv(k))
	}
	if _, err := p.VerifyNotify(&provider.Request{Header: seedHeader, Body: body}); err != nil {
		f.Fatalf("the signed seed must verify: %v", err)
	}
	f.Add(body, hv(HeaderTimestamp), hv(HeaderNonce), hv(HeaderSerial), hv(HeaderSignature), txJSON, "TRANSACTION.SUCCESS")
	f.Add(body, "1624523847", hv(HeaderNonce), "PUB_KEY_ID_0", "WECHATPAY/SIGNTEST/AAAA", rfJSON, "REFUND.SUCCESS")
	f.Add([]byte(`{"id":"1","event_type":"X","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"","nonce":"123456789012"}}`),
		"0", "", "00D7CE59D1F522D701", "", []byte(`{"mchid":"1234567890","x":[1,{"y":null}]}`), "PAYSCORE.X")
	f.Add([]byte(`{"id":"1","id":"2"}`), "", "n", "d7ce59d1f522d701", "!!",
		[]byte(`{"mchid":"1234567890","amount":{"total":1e3}}`), "TRANSACTION.SUCCESS")
	f.Add([]byte(`[`), "-1", "n", "x", "AAAA",
		[]byte(`{"mchid":"1234567890","trade_state":"SUCCESS","out_trade_no":"1","amount":{"total":18446744073709551616}}`), "")

	f.Fuzz(func(t *testing.T, body []byte, ts, nonce, serial, sig string, plaintext []byte, eventType string) {
		h := http.Header{}
		for k, v := range map[string]string{HeaderTimestamp: ts, HeaderNonce: nonce, HeaderSerial: serial, HeaderSignature: sig} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		ver, err := p.VerifyNotify(&provider.Request{Header: h, Body: body})
		mustReason(t, ver, err)

		env, rerr := parseV3Envelope(body, nil)
		if rerr == nil && (env.ID == "" || env.EventType == "") {
			t.Fatalf("envelope without id or event_type: %+v", env)
		}
		n, rerr := p.parseNotification(body)
		if rerr != nil {
			mustReason(t, nil, rerr)
		} else {
			mustReason(t, &provider.Verified{Notification: *n}, nil)
		}

		res, err := signer.EncryptResource(plaintext, "transaction")
		if err != nil {
			t.Fatal(err)
		}
		wrapped := envelope("EV-fuzz", eventType, res)
		if _, err := strictjson.DecodeObject(wrapped); err != nil {
			return // eventType was not valid as JSON string content
		}
		n, rerr = p.parseNotification(wrapped)
		if rerr != nil {
			mustReason(t, nil, rerr)
			return
		}
		mustReason(t, &provider.Verified{Notification: *n}, nil)
	})
}

// FuzzParseXML drives ParseXML, the <root> variant used for req_info, the
// renderer (round trip), and V2.VerifyNotify both on the raw input and,
// when it parses, on the same fields correctly signed, so fuzzed fields
// reach the payment parser behind a valid sign.
func FuzzParseXML(f *testing.F) {
	p := newV2(f, "")
	s := &V2Signer{APIKey: []byte(testV2Key)}
	f.Add(s.SignNotify(samplePayment()))
	f.Add(s.SignRefundNotify(sampleRefundOuter(), sampleRefundInfo()))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><a>&a;</a></xml>`))
	f.Add([]byte(`<xml><a><![CDATA[x]]>y&#13;</a><b/></xml> `))
	f.Add([]byte(`<root><a>1</a></root>`))
	f.Add([]byte(`<xml><a>1</a><a>2</a></xml>`))
	f.Add([]byte(`<xml><a><b>1</b></a></xml>trailing`))

	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseFlatXML(b, "root")
		_, _ = decryptReqInfo(p.refundKey, string(b))
		ver, err := p.VerifyNotify(&provider.Request{Body: b})
		mustReason(t, ver, err)

		fields, err := ParseXML(b)
		if err != nil {
			return
		}
		back, err := ParseXML(renderXML("xml", fields))
		if err != nil || !reflect.DeepEqual(back, fields) {
			t.Fatalf("round trip: %v -> %v, %v", fields, back, err)
		}
		ver, err = p.VerifyNotify(&provider.Request{Body: s.SignNotify(fields)})
		mustReason(t, ver, err)
	})
}
