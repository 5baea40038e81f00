package paypal

import (
	"net/http"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Every parser returns a *reason.Error or a value, never panics.

func mustReason(t *testing.T, err error) {
	t.Helper()
	if err != nil && reason.CodeOf(err, "") == "" {
		t.Fatalf("error without a reason code: %v", err)
	}
}

func FuzzParseTransmission(f *testing.F) {
	s := loadSim(f)
	h := notify(f, s, newOrder(f, s, 100, "USD"), "").Header
	f.Add(h.Get(HeaderTransmissionID), h.Get(HeaderTransmissionTime), h.Get(HeaderTransmissionSig), h.Get(HeaderCertURL), h.Get(HeaderAuthAlgo))
	f.Add("a|b", "2017-03-30T20:04:05.123+08:00", "====", "https://api.paypal.com/v1/notifications/certs/%00", "SHA256withRSA")
	f.Fuzz(func(t *testing.T, id, ts, sig, certURL, algo string) {
		h := http.Header{}
		for k, v := range map[string]string{HeaderTransmissionID: id, HeaderTransmissionTime: ts, HeaderTransmissionSig: sig, HeaderCertURL: certURL, HeaderAuthAlgo: algo} {
			if v != "" {
				h[k] = strings.Split(v, "\x00") // NUL splits into repeated headers
			}
		}
		tr, err := parseTransmission(h)
		mustReason(t, err)
		if err == nil && (!isToken(tr.ID) || tr.AuthAlg != AuthAlgo || len(tr.Sig) == 0) {
			t.Fatalf("accepted %+v", tr)
		}
	})
}

func FuzzCheckCertURL(f *testing.F) {
	for _, u := range []string{
		"https://api.paypal.com/v1/notifications/certs/CERT-1", "https://api.sandbox.paypal.com/v1/notifications/certs/a.b",
		"https://api.paypal.com:443/v1/notifications/certs/x", "https://api.paypal.com\\@evil/v1/notifications/certs/x",
		"https://api.paypal.com/v1/notifications/certs/..", "HTTPS://api.paypal.com/v1/notifications/certs/x",
	} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		canonical, name, err := checkCertURL(raw)
		mustReason(t, err)
		if err != nil {
			return
		}
		host, _, _ := strings.Cut(strings.TrimPrefix(canonical, "https://"), "/")
		if certHosts[host] != name || name == "" || !strings.HasPrefix(canonical, "https://"+host+certPathPrefix) {
			t.Fatalf("%q accepted as %q for %q", raw, canonical, name)
		}
		if again, _, err := checkCertURL(canonical); err != nil || again != canonical {
			t.Fatalf("canonical %q does not check as itself", canonical)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	s := loadSim(f)
	f.Add(notify(f, s, newOrder(f, s, 100, "USD"), "").Body)
	f.Add([]byte(loadVectors(f)["offline_sandbox_billing_plan_created"].Body))
	f.Add([]byte(`{"id":"WH-2","event_type":"PAYMENT.CAPTURE.REFUNDED","resource":{"id":"R","amount":{"currency_code":"HUF","value":"10"},"links":[{"rel":"up","href":"/v2/payments/captures/C"}]}}`))
	f.Add([]byte(`{"id":"WH-3","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"O","purchase_units":[{"amount":{"currency_code":"JPY","value":"1"}}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := parseEvent(body)
		mustReason(t, err)
		if err != nil {
			return
		}
		if n.EventID == "" || !n.Status.Valid() || n.Amount < 0 || n.RefundAmount < 0 {
			t.Fatalf("accepted %+v", n)
		}
	})
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.34", "1500", "1500.00", "0.5", "-1", "1e3", "99999999999999999"} {
		f.Add(s, "HUF")
		f.Add(s, "USD")
	}
	f.Fuzz(func(t *testing.T, value, currency string) {
		v, err := ParseAmount(value, currency)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("%q %s: negative %d", value, currency, v)
		}
		back, err := FormatAmount(v, currency)
		if err != nil {
			t.Fatalf("%q %s parsed to %d, which does not format: %v", value, currency, v, err)
		}
		if again, err := ParseAmount(back, currency); err != nil || again != v {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", value, v, back, again, err)
		}
	})
}

// FuzzVerifyNotify mutates a genuine delivery's body and headers; with the
// certificate pinned, only the untouched delivery verifies.
func FuzzVerifyNotify(f *testing.F) {
	s := loadSim(f)
	p := pinnedProvider(f, s)
	genuine := notify(f, s, newOrder(f, s, 100, "USD"), "")
	f.Add(genuine.Body, genuine.Header.Get(HeaderTransmissionID), genuine.Header.Get(HeaderTransmissionTime))
	f.Fuzz(func(t *testing.T, body []byte, id, ts string) {
		h := genuine.Header.Clone()
		h.Set(HeaderTransmissionID, id)
		h.Set(HeaderTransmissionTime, ts)
		v, err := p.VerifyNotify(&provider.Request{Method: http.MethodPost, Header: h, Body: body})
		mustReason(t, err)
		same := string(body) == string(genuine.Body) && id == genuine.Header.Get(HeaderTransmissionID) && ts == genuine.Header.Get(HeaderTransmissionTime)
		if (err == nil) != same {
			t.Fatalf("verified=%v for a delivery that is genuine=%v", err == nil, same)
		}
		if err == nil && v.Notification.Status != notification.StatusPaid {
			t.Fatalf("genuine delivery mapped to %+v", v.Notification)
		}
	})
}

func FuzzParseQueryAnswer(f *testing.F) {
	f.Add([]byte(`{"id":"C1","status":"COMPLETED","amount":{"currency_code":"TWD","value":"30"},"custom_id":"S"}`), false)
	f.Add([]byte(`{"id":"O1","status":"APPROVED","purchase_units":[{"amount":{"currency_code":"USD","value":"1.00"}}]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, order bool) {
		what, statuses := "capture", captureStatus
		if order {
			what, statuses = "order", orderStatus
		}
		res, err := parseQueryAnswer(body, &notification.Notification{OutTradeNo: "S"}, what, statuses)
		mustReason(t, err)
		if err == nil && (!res.Status.Valid() || res.Amount < 0) {
			t.Fatalf("accepted %+v", res)
		}
	})
}
