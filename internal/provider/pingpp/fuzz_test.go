package pingpp

import (
	"net/http"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// FuzzEventEnvelope feeds the envelope parser and the mapping what a
// signature would let through: any bytes. They never panic, and every
// refusal is malformed.
func FuzzEventEnvelope(f *testing.F) {
	for _, s := range []string{chargeEvent, refundEvent, `{}`, `{"object":"event","id":"evt_1","type":"x","created":1,"data":{"object":{}}}`,
		`{"object":"event","id":"evt_1","type":"refund.succeeded","created":1,"data":{"object":{"object":"refund","amount":1e99}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := parseEvent(b)
		if err != nil {
			if reason.CodeOf(err, "") != reason.Malformed {
				t.Fatalf("parse refusal %v is not malformed", err)
			}
			return
		}
		n := new(notification.Notification)
		if err := ev.fill(n); err != nil {
			if reason.CodeOf(err, "") != reason.Malformed {
				t.Fatalf("mapping refusal %v is not malformed", err)
			}
			return
		}
		if !n.Status.Valid() || n.Amount < 0 || n.EventID == "" {
			t.Fatalf("accepted an impossible notification %+v", n)
		}
	})
}

// FuzzVerifyNotify varies the signature header and the body together:
// never a panic, never an acceptance of what the test key did not sign.
func FuzzVerifyNotify(f *testing.F) {
	good := signed(f, chargeEvent)
	f.Add(good.Header.Get(SignatureHeader), []byte(chargeEvent))
	f.Add("", []byte(chargeEvent))
	f.Add("AAAA", []byte(`{}`))
	p := newTestProvider(f)
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		h := http.Header{}
		h.Set(SignatureHeader, sig)
		v, err := p.VerifyNotify(&provider.Request{Method: http.MethodPost, Header: h, Body: body, Now: time.Now()})
		if err == nil && (string(body) != chargeEvent || v == nil) {
			t.Fatalf("accepted a body the key never signed: %q", body)
		}
	})
}

// FuzzChargeAnswer: the query's answer parser never panics.
func FuzzChargeAnswer(f *testing.F) {
	f.Add([]byte(chargeAnswer))
	f.Add([]byte(`{"object":"charge","id":"ch_test0000000000000000001","paid":true,"amount":1,"currency":"cny","order_no":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCharge(b, "ch_test0000000000000000001")
		if err == nil && (c.result.Amount < 0 || !c.result.Status.Valid()) {
			t.Fatalf("impossible answer accepted: %+v", c.result)
		}
	})
}
