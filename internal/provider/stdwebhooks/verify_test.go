package stdwebhooks

import (
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/stdwebhook"
	"github.com/payguard/payguard/internal/strictjson"
)

// The published vectors through the whole provider: a receiver configured
// with each key the case names accepts the valid cases at the signed time
// and refuses the others as bad_signature.
func TestVectors(t *testing.T) {
	for _, c := range loadVectors(t) {
		t.Run(c.Name, func(t *testing.T) {
			var configs []Config
			if c.Secret != "" {
				s, err := stdwebhook.ParseSecret(c.Secret)
				if err != nil {
					t.Fatal(err)
				}
				configs = append(configs, Config{Secrets: [][]byte{s}, Mappings: vectorMappings})
			}
			if c.PublicKey != "" {
				k, err := ParsePublicKey(c.PublicKey)
				if err != nil {
					t.Fatal(err)
				}
				configs = append(configs, Config{PublicKeys: []ed25519.PublicKey{k}, Mappings: vectorMappings})
			}
			for _, cfg := range configs {
				req := request(c.WebhookID, 0, c.WebhookSignature, c.Payload, time.Unix(1614265330, 0))
				req.Header.Set(stdwebhook.HeaderTimestamp, c.WebhookTimestamp)
				v, err := newProvider(t, cfg).VerifyNotify(req)
				if !strings.HasPrefix(c.Expected, "valid") {
					wantCode(t, c.Name, err, reason.BadSignature)
					continue
				}
				if err != nil {
					t.Fatalf("want valid: %v", err)
				}
				n := v.Notification
				if !v.Timestamp.Equal(time.Unix(1614265330, 0)) || n.EventID != c.WebhookID || n.Amount != 2432232314 ||
					n.OutTradeNo != "2432232314" || n.Provider != Name || n.Status != notification.StatusPaid || v.Nonce != "" {
					t.Fatalf("verified %+v", v)
				}
			}
		})
	}
}

func TestDefaultMappings(t *testing.T) {
	now := time.Unix(1767323045, 0)
	v, err := newProvider(t, Config{Secrets: [][]byte{testSecret}}).VerifyNotify(signedV1([][]byte{testSecret}, "msg_1", now, paidBody))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	want := notification.Notification{Provider: Name, EventID: "msg_1", OutTradeNo: "o-1", TransactionID: "t-1",
		Amount: 1234, Currency: "USD", Status: notification.StatusPaid}
	if n.Provider != want.Provider || n.EventID != want.EventID || n.OutTradeNo != want.OutTradeNo || n.TransactionID != want.TransactionID ||
		n.Amount != want.Amount || n.Currency != want.Currency || n.Status != want.Status {
		t.Fatalf("got %+v\nwant %+v", n, want)
	}
	if !n.OccurredAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || n.Raw["type"] != "payment.succeeded" {
		t.Fatalf("occurred_at %v, raw %v", n.OccurredAt, n.Raw)
	}
	// transaction_id is optional by default; the rest is required.
	noTxn := strings.Replace(paidBody, `"transaction_id":"t-1",`, "", 1)
	v, err = newProvider(t, Config{Secrets: [][]byte{testSecret}}).VerifyNotify(signedV1([][]byte{testSecret}, "msg_1", now, noTxn))
	if err != nil || v.Notification.TransactionID != "" {
		t.Fatalf("without transaction_id: %+v %v", v, err)
	}
}

func TestRotationWithSeveralSecrets(t *testing.T) {
	now := time.Now()
	p := newProvider(t, Config{Secrets: [][]byte{otherSecret, testSecret}})
	for name, secrets := range map[string][][]byte{
		"signed with the first":  {otherSecret},
		"signed with the second": {testSecret},
		"signed with both":       {testSecret, otherSecret},
		"stranger and second":    {[]byte("stranger-secret-0123456789"), testSecret},
	} {
		if _, err := p.VerifyNotify(signedV1(secrets, "msg_1", now, paidBody)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := p.VerifyNotify(signedV1([][]byte{[]byte("stranger-secret-0123456789")}, "msg_1", now, paidBody))
	wantCode(t, "stranger", err, reason.BadSignature)
}

// A handler with public_key refuses v1 entries even when they are valid
// for a secret it does not hold, and one with secrets refuses v1a.
func TestV1aAndV1AreTheHandlersChoice(t *testing.T) {
	now := time.Now()
	asym := newProvider(t, Config{PublicKeys: []ed25519.PublicKey{testPub}})
	sym := newProvider(t, Config{Secrets: [][]byte{testSecret}})
	v1 := stdwebhook.Sign([][]byte{testSecret}, "msg_1", now.Unix(), []byte(paidBody))
	v1a := stdwebhook.SignV1a([]ed25519.PrivateKey{testPriv}, "msg_1", now.Unix(), []byte(paidBody))
	cases := []struct {
		name string
		p    *Provider
		sig  string
		want reason.Code
	}{
		{"public key, v1 only", asym, v1, reason.BadSignature},
		{"secret, v1a only", sym, v1a, reason.BadSignature},
		{"public key, both", asym, v1 + " " + v1a, ""},
		{"secret, both", sym, v1a + " " + v1, ""},
		{"public key, v1a by another key", asym, stdwebhook.SignV1a([]ed25519.PrivateKey{ed25519.NewKeyFromSeed(make([]byte, 32))}, "msg_1", now.Unix(), []byte(paidBody)), reason.BadSignature},
		{"unknown versions only", sym, "v2," + strings.TrimPrefix(v1, "v1,") + " v1b,AAAA", reason.BadSignature},
	}
	for _, c := range cases {
		_, err := c.p.VerifyNotify(request("msg_1", now.Unix(), c.sig, paidBody, now))
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		wantCode(t, c.name, err, c.want)
	}
	// The refusal says which scheme the handler wanted, never a key.
	_, err := asym.VerifyNotify(request("msg_1", now.Unix(), v1, paidBody, now))
	if err == nil || !strings.Contains(err.Error(), "v1a") {
		t.Fatalf("detail %v", err)
	}
}

// The provider reports the signed send time whatever it is; the pipeline
// holds it to tolerance in both directions.
func TestTimestampIsTheSignedSendTime(t *testing.T) {
	now := time.Unix(1767323045, 0)
	p := newProvider(t, Config{Secrets: [][]byte{testSecret}})
	for _, d := range []time.Duration{-10 * time.Minute, -5*time.Minute - time.Second, 0, 5*time.Minute + time.Second, 24 * time.Hour} {
		sent := now.Add(d)
		req := signedV1([][]byte{testSecret}, "msg_1", sent, paidBody)
		req.Now = now
		v, err := p.VerifyNotify(req)
		if err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		if !v.Timestamp.Equal(sent) || !v.EventTime.IsZero() {
			t.Errorf("%v: timestamp %v, event time %v", d, v.Timestamp, v.EventTime)
		}
	}
}

func TestMalformedHeaders(t *testing.T) {
	now := time.Now()
	p := newProvider(t, Config{Secrets: [][]byte{testSecret}})
	edits := map[string]func(h http.Header){
		"no webhook-id":          func(h http.Header) { h.Del(stdwebhook.HeaderID) },
		"no webhook-timestamp":   func(h http.Header) { h.Del(stdwebhook.HeaderTimestamp) },
		"no webhook-signature":   func(h http.Header) { h.Del(stdwebhook.HeaderSignature) },
		"two signatures headers": func(h http.Header) { h.Add(stdwebhook.HeaderSignature, h.Get(stdwebhook.HeaderSignature)) },
		"two ids":                func(h http.Header) { h.Add(stdwebhook.HeaderID, "msg_2") },
		"dot in id":              func(h http.Header) { h.Set(stdwebhook.HeaderID, "msg.1") },
		"timestamp in ms":        func(h http.Header) { h.Set(stdwebhook.HeaderTimestamp, h.Get(stdwebhook.HeaderTimestamp)+".000") },
		"timestamp as date":      func(h http.Header) { h.Set(stdwebhook.HeaderTimestamp, now.UTC().Format(time.RFC3339)) },
		"entry without comma":    func(h http.Header) { h.Set(stdwebhook.HeaderSignature, "v1") },
		"empty value":            func(h http.Header) { h.Set(stdwebhook.HeaderSignature, "v1,") },
	}
	for name, edit := range edits {
		req := signedV1([][]byte{testSecret}, "msg_1", now, paidBody)
		edit(req.Header)
		_, err := p.VerifyNotify(req)
		wantCode(t, name, err, reason.Malformed)
	}
}

// A body is parsed only once its signature holds, and must be one JSON
// object without repeated keys.
func TestMalformedBodies(t *testing.T) {
	now := time.Now()
	p := newProvider(t, Config{Secrets: [][]byte{testSecret}})
	bodies := map[string]string{
		"not JSON":         `out_trade_no=o-1`,
		"array":            `[1,2]`,
		"string":           `"x"`,
		"data after":       paidBody + `{}`,
		"duplicate key":    `{"data":{"amount":1,"amount":1234}}`,
		"top-level dup":    `{"a":1,"a":2}`,
		"deep":             strings.Repeat(`{"a":`, strictjson.MaxDepth+1) + "1" + strings.Repeat("}", strictjson.MaxDepth+1),
		"truncated":        paidBody[:len(paidBody)-2],
		"empty":            ``,
		"missing data":     `{"type":"x"}`,
		"amount decimal":   strings.Replace(paidBody, `1234`, `12.34`, 1),
		"amount string":    strings.Replace(paidBody, `1234`, `"1234"`, 1),
		"amount negative":  strings.Replace(paidBody, `1234`, `-1`, 1),
		"status word":      strings.Replace(paidBody, `"status":"paid"`, `"status":"succeeded"`, 1),
		"currency":         strings.Replace(paidBody, `"USD"`, `"usd"`, 1),
		"paid no order":    strings.Replace(paidBody, `"out_trade_no":"o-1"`, `"out_trade_no":""`, 1),
		"newline in order": strings.Replace(paidBody, `"o-1"`, `"o-1\nX-Evil: 1"`, 1),
	}
	for name, body := range bodies {
		_, err := p.VerifyNotify(signedV1([][]byte{testSecret}, "msg_1", now, body))
		wantCode(t, name, err, reason.Malformed)
	}
	// An unsigned malformed body is a bad signature: nothing is parsed first.
	_, err := p.VerifyNotify(request("msg_1", now.Unix(), "v1,AAAA", `[`, now))
	wantCode(t, "unsigned", err, reason.BadSignature)
}

func TestConfiguredMappings(t *testing.T) {
	now := time.Now()
	body := `{"kind":"invoice.paid","id":"evt_9","invoice":{"number":"INV-7","charge":"ch_3","total":"50.25","currency":"eur","state":"paid"}}`
	p := newProvider(t, Config{Secrets: [][]byte{testSecret}, Mappings: map[string]string{
		FieldEventID:       `body.id`,
		FieldOutTradeNo:    `body.invoice.number`,
		FieldTransactionID: `body.invoice.charge`,
		FieldAmount:        `int(body.invoice.total.replace(".", ""))`,
		FieldCurrency:      `body.invoice.currency.upperAscii()`,
		FieldStatus:        `body.kind == "invoice.paid" ? "paid" : "other"`,
	}})
	v, err := p.VerifyNotify(signedV1([][]byte{testSecret}, "msg_1", now, body))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.EventID != "evt_9" || n.OutTradeNo != "INV-7" || n.TransactionID != "ch_3" || n.Amount != 5025 || n.Currency != "EUR" || n.Status != notification.StatusPaid {
		t.Fatalf("%+v", n)
	}
	// A mapping over headers.
	p = newProvider(t, Config{Secrets: [][]byte{testSecret}, Mappings: map[string]string{FieldEventID: `"evt-" + headers["Webhook-Id"]`}})
	if v, err = p.VerifyNotify(signedV1([][]byte{testSecret}, "msg_1", now, paidBody)); err != nil || v.Notification.EventID != "evt-msg_1" {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestAcknowledge(t *testing.T) {
	p := newProvider(t, Config{Secrets: [][]byte{testSecret}})
	if a := p.Acknowledge(true, reason.Forwarded, 200); a.Status != 200 || len(a.Body) != 0 {
		t.Fatalf("accepted: %+v", a)
	}
	if a := p.Acknowledge(true, reason.Duplicate, 200); a.Status != 200 {
		t.Fatalf("duplicate: %+v", a)
	}
	for _, code := range reason.All {
		if code == reason.Forwarded || code == reason.Duplicate || code == reason.Watching {
			continue
		}
		a := p.Acknowledge(false, code, reason.HTTPStatus(code))
		if a.Status != reason.HTTPStatus(code) || string(a.Body) != string(code)+"\n" {
			t.Errorf("%s: %+v", code, a)
		}
	}
	// Never a success or a 410 (which disables the endpoint) for a refusal.
	for _, st := range []int{0, 200, 204, 302, 410} {
		if a := p.Acknowledge(false, reason.UpstreamFailed, st); a.Status != 502 {
			t.Errorf("status %d became %d", st, a.Status)
		}
	}
}

func TestNewRefusesBadConfigs(t *testing.T) {
	cases := map[string]Config{
		"nothing":      {},
		"both schemes": {Secrets: [][]byte{testSecret}, PublicKeys: []ed25519.PublicKey{testPub}},
		"short secret": {Secrets: [][]byte{[]byte("short")}},
		"short key":    {PublicKeys: []ed25519.PublicKey{testPub[:16]}},
		"bad mapping":  {Secrets: [][]byte{testSecret}, Mappings: map[string]string{FieldAmount: `body.`}},
		"unknown":      {Secrets: [][]byte{testSecret}, Mappings: map[string]string{"refund_id": `body.id`}},
	}
	for name, c := range cases {
		if _, err := New(c); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
