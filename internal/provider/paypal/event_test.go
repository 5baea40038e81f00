package paypal

import (
	"reflect"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

func TestEventMapping(t *testing.T) {
	capture := func(eventType, status, extra string) string {
		return `{"id":"WH-1","event_type":"` + eventType + `","create_time":"2026-01-02T03:04:05.678Z","resource_type":"capture",` +
			`"resource":{"id":"2GG279541U471931P","status":"` + status + `","amount":{"currency_code":"USD","value":"10.99"}` + extra + `}}`
	}
	refund := `{"id":"WH-2","event_type":"PAYMENT.CAPTURE.REFUNDED","resource_type":"refund","resource":{"id":"1Y107995YT783435V",` +
		`"status":"COMPLETED","amount":{"currency_code":"USD","value":"2.50"},"invoice_id":"INV-7","links":[` +
		`{"href":"https://api.paypal.com/v2/payments/refunds/1Y107995YT783435V","rel":"self","method":"GET"},` +
		`{"href":"https://api.paypal.com/v2/payments/captures/0JF852973C016714D","rel":"up","method":"GET"}]}}`
	order := `{"id":"WH-3","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"5O190127TN364715T","status":"APPROVED",` +
		`"purchase_units":[{"reference_id":"default","custom_id":"SHOP-9","amount":{"currency_code":"JPY","value":"1500"}}]}}`
	cases := []struct {
		name string
		body string
		want notification.Notification
	}{
		{"completed, custom_id", capture("PAYMENT.CAPTURE.COMPLETED", "COMPLETED", `,"custom_id":"SHOP-1","invoice_id":"INV-1"`),
			notification.Notification{EventID: "WH-1", Status: notification.StatusPaid, Type: "payment.succeeded", OutTradeNo: "SHOP-1", TransactionID: "2GG279541U471931P", Amount: 1099, Currency: "USD"}},
		{"pending, invoice_id", capture("PAYMENT.CAPTURE.PENDING", "PENDING", `,"invoice_id":"INV-1"`),
			notification.Notification{EventID: "WH-1", Status: notification.StatusPending, Type: "payment.pending", OutTradeNo: "INV-1", TransactionID: "2GG279541U471931P", Amount: 1099, Currency: "USD"}},
		{"denied, order id", capture("PAYMENT.CAPTURE.DENIED", "DECLINED", `,"supplementary_data":{"related_ids":{"order_id":"5O190127TN364715T"}}`),
			notification.Notification{EventID: "WH-1", Status: notification.StatusFailed, Type: "payment.failed", OutTradeNo: "5O190127TN364715T", TransactionID: "2GG279541U471931P", Amount: 1099, Currency: "USD"}},
		{"declined", capture("PAYMENT.CAPTURE.DECLINED", "DECLINED", ""),
			notification.Notification{EventID: "WH-1", Status: notification.StatusFailed, Type: "payment.failed", TransactionID: "2GG279541U471931P", Amount: 1099, Currency: "USD"}},
		{"refunded", refund,
			notification.Notification{EventID: "WH-2", Status: notification.StatusRefunded, Type: "payment.refunded", OutTradeNo: "INV-7", TransactionID: "0JF852973C016714D",
				Amount: 250, RefundAmount: 250, RefundID: "1Y107995YT783435V", Currency: "USD"}},
		{"reversed", strings.Replace(refund, "PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED", 1),
			notification.Notification{EventID: "WH-2", Status: notification.StatusRefunded, Type: "payment.refunded", OutTradeNo: "INV-7", TransactionID: "0JF852973C016714D",
				Amount: 250, RefundAmount: 250, RefundID: "1Y107995YT783435V", Currency: "USD"}},
		{"order approved", order,
			notification.Notification{EventID: "WH-3", Status: notification.StatusPending, Type: "payment.pending", OutTradeNo: "SHOP-9", TransactionID: "5O190127TN364715T", Amount: 1500, Currency: "JPY"}},
		{"order voided", `{"id":"WH-4","event_type":"CHECKOUT.ORDER.VOIDED","resource":{"id":"5O190127TN364715T","status":"VOIDED"}}`,
			notification.Notification{EventID: "WH-4", Status: notification.StatusClosed, Type: "payment.closed", OutTradeNo: "5O190127TN364715T", TransactionID: "5O190127TN364715T"}},
		{"other", `{"id":"WH-5","event_type":"CUSTOMER.DISPUTE.CREATED","resource":{"dispute_id":"PP-D-1"}}`,
			notification.Notification{EventID: "WH-5", Status: notification.StatusOther, Type: "customer.dispute.created"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := parseEvent([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			got := *n
			got.Raw, got.OccurredAt, got.Provider = nil, got.OccurredAt.UTC(), ""
			want := c.want
			want.OccurredAt = got.OccurredAt
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %+v\nwant %+v", got, want)
			}
			if n.Provider != Name || n.Raw["id"] != c.want.EventID {
				t.Fatalf("provider %q raw %v", n.Provider, n.Raw)
			}
		})
	}
}

func TestEventMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":           `hello`,
		"array":              `[{"id":"WH-1"}]`,
		"trailing data":      `{"id":"WH-1","event_type":"X"} {}`,
		"trailing garbage":   `{"id":"WH-1","event_type":"X"}garbage`,
		"no id":              `{"event_type":"X"}`,
		"id with space":      `{"id":"WH 1","event_type":"X"}`,
		"no event type":      `{"id":"WH-1"}`,
		"capture no amount":  `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1"}}`,
		"capture no id":      `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"amount":{"currency_code":"USD","value":"1.00"}}}`,
		"float amount":       `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","amount":{"currency_code":"USD","value":"1.005"}}}`,
		"negative":           `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","amount":{"currency_code":"USD","value":"-1.00"}}}`,
		"bad currency":       `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","amount":{"currency_code":"usd","value":"1.00"}}}`,
		"amount as number":   `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","amount":{"currency_code":"USD","value":1.00}}}`,
		"control in custom":  `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","custom_id":"a\r\nb","amount":{"currency_code":"USD","value":"1.00"}}}`,
		"refund no amount":   `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.REFUNDED","resource":{"id":"R1"}}`,
		"resource not obj":   `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":"C1"}`,
		"HUF with fraction":  `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","amount":{"currency_code":"HUF","value":"1500.50"}}}`,
		"JPY with decimals":  `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","amount":{"currency_code":"JPY","value":"1500.0"}}}`,
		"custom_id too long": `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"C1","custom_id":"` + strings.Repeat("x", 128) + `","amount":{"currency_code":"USD","value":"1.00"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseEvent([]byte(body))
			wantCode(t, err, reason.Malformed)
		})
	}
}

// TestCurrencyExponents: PayPal writes JPY, HUF and TWD in whole units;
// Payguard-Amount is the ISO 4217 minor unit all the same.
func TestCurrencyExponents(t *testing.T) {
	good := []struct {
		value, currency string
		minor           int64
	}{
		{"12.34", "USD", 1234}, {"0.01", "EUR", 1}, {"100", "USD", 10000},
		{"1500", "JPY", 1500}, {"1500", "HUF", 150000}, {"1500.00", "HUF", 150000}, {"30", "TWD", 3000},
		{"1.234", "KWD", 1234}, {"7", "BHD", 7000},
	}
	for _, c := range good {
		got, err := ParseAmount(c.value, c.currency)
		if err != nil || got != c.minor {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", c.value, c.currency, got, err, c.minor)
		}
	}
	for _, c := range []struct{ value, currency string }{
		{"1500.5", "HUF"}, {"29.99", "TWD"}, {"1.5", "JPY"}, {"1.999", "USD"}, {"1e3", "USD"}, {"", "USD"}, {"1", "US"}, {"1", "usd"},
	} {
		if got, err := ParseAmount(c.value, c.currency); err == nil {
			t.Errorf("ParseAmount(%q, %s) = %d, want an error", c.value, c.currency, got)
		}
	}
	written := []struct {
		minor    int64
		currency string
		want     string
	}{{150000, "HUF", "1500"}, {3000, "TWD", "30"}, {1500, "JPY", "1500"}, {1234, "USD", "12.34"}, {1234, "KWD", "1.234"}}
	for _, c := range written {
		if got, err := FormatAmount(c.minor, c.currency); err != nil || got != c.want {
			t.Errorf("FormatAmount(%d, %s) = %q, %v; want %q", c.minor, c.currency, got, err, c.want)
		}
	}
	if _, err := FormatAmount(150050, "HUF"); err == nil {
		t.Error("FormatAmount wrote 1500.50 HUF, which PayPal cannot carry")
	}
}

// TestCurrencyExponentsEndToEnd: a sandbox HUF, TWD and JPY delivery
// verifies and maps to ISO minor units.
func TestCurrencyExponentsEndToEnd(t *testing.T) {
	s := loadSim(t)
	p := pinnedProvider(t, s)
	for _, c := range []struct {
		currency string
		minor    int64
		value    string
	}{{"HUF", 150000, `"1500"`}, {"TWD", 3000, `"30"`}, {"JPY", 1500, `"1500"`}} {
		req := notify(t, s, newOrder(t, s, c.minor, c.currency), "")
		if !strings.Contains(string(req.Body), `"value":`+c.value) {
			t.Fatalf("%s body does not write %s: %s", c.currency, c.value, req.Body)
		}
		v, err := p.VerifyNotify(req)
		if err != nil {
			t.Fatal(err)
		}
		if v.Notification.Amount != c.minor || v.Notification.Currency != c.currency {
			t.Fatalf("%s: amount %d %s, want %d", c.currency, v.Notification.Amount, v.Notification.Currency, c.minor)
		}
	}
}

func TestParseTransmissionMalformed(t *testing.T) {
	s := loadSim(t)
	base := notify(t, s, newOrder(t, s, 100, "USD"), "").Header
	for _, c := range []struct {
		name, header, value string
		dup                 bool
		want                reason.Code
	}{
		{"no id", HeaderTransmissionID, "", false, reason.Malformed},
		{"id with pipe", HeaderTransmissionID, "a|b", false, reason.Malformed},
		{"two ids", HeaderTransmissionID, "x", true, reason.Malformed},
		{"no time", HeaderTransmissionTime, "", false, reason.Malformed},
		{"bad time", HeaderTransmissionTime, "yesterday", false, reason.Malformed},
		{"unix time", HeaderTransmissionTime, "1700000000", false, reason.Malformed},
		{"no sig", HeaderTransmissionSig, "", false, reason.Malformed},
		{"sig not base64", HeaderTransmissionSig, "!!!", false, reason.BadSignature},
		{"long sig", HeaderTransmissionSig, strings.Repeat("A", 4096), false, reason.Malformed},
		{"no algo", HeaderAuthAlgo, "", false, reason.Malformed},
		{"other algo", HeaderAuthAlgo, "SHA512withRSA", false, reason.BadSignature},
		{"lower-case algo", HeaderAuthAlgo, "sha256withrsa", false, reason.BadSignature},
		{"no cert url", HeaderCertURL, "", false, reason.Malformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := base.Clone()
			switch {
			case c.dup:
				h.Add(c.header, c.value)
			case c.value == "":
				h.Del(c.header)
			default:
				h.Set(c.header, c.value)
			}
			_, err := parseTransmission(h)
			wantCode(t, err, c.want)
		})
	}
	if _, err := parseTransmission(base); err != nil {
		t.Fatalf("the untouched headers must parse: %v", err)
	}
}
