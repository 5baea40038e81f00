package stripe

import (
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

func verifyBody(t *testing.T, body string) notification.Notification {
	t.Helper()
	v, err := newTestProvider(t).VerifyNotify(signedRequest(body, testSecret))
	if err != nil {
		t.Fatalf("%v\nbody: %s", err, body)
	}
	return v.Notification
}

func TestStatusMap(t *testing.T) {
	md := `{"out_trade_no":"ORDER-1"}`
	charge := func(typ, extra string) string {
		return event(typ, `{"id":"ch_3PAY","object":"charge","amount":1000,"amount_refunded":0,"captured":true,`+
			`"currency":"usd","metadata":`+md+`,"payment_intent":"pi_3PAY","status":"succeeded"`+extra+`}`)
	}
	session := func(typ, ps string) string {
		return event(typ, `{"id":"cs_test_1","object":"checkout.session","amount_total":1000,"currency":"usd",`+
			`"client_reference_id":null,"metadata":`+md+`,"payment_intent":"pi_3PAY","payment_status":"`+ps+`"}`)
	}
	cases := []struct {
		name string
		body string
		want notification.Status
	}{
		{"pi succeeded", piEvent("payment_intent.succeeded", "succeeded", 1000, 1000, "usd", md), notification.StatusPaid},
		{"pi processing", piEvent("payment_intent.processing", "processing", 1000, 0, "usd", md), notification.StatusPending},
		{"pi failed", piEvent("payment_intent.payment_failed", "requires_payment_method", 1000, 0, "usd", md), notification.StatusFailed},
		{"pi canceled", piEvent("payment_intent.canceled", "canceled", 1000, 0, "usd", md), notification.StatusClosed},
		{"pi created", piEvent("payment_intent.created", "requires_payment_method", 1000, 0, "usd", md), notification.StatusOther},
		{"charge succeeded", charge("charge.succeeded", ""), notification.StatusPaid},
		{"charge authorized only", strings.Replace(charge("charge.succeeded", ""), `"captured":true`, `"captured":false`, 1), notification.StatusPending},
		{"charge failed", strings.Replace(charge("charge.failed", ""), `"status":"succeeded"`, `"status":"failed"`, 1), notification.StatusFailed},
		{"charge refunded", strings.Replace(charge("charge.refunded", ""), `"amount_refunded":0`, `"amount_refunded":1000`, 1), notification.StatusRefunded},
		{"charge captured", charge("charge.captured", ""), notification.StatusOther},
		{"checkout paid", session("checkout.session.completed", "paid"), notification.StatusPaid},
		{"checkout unpaid", session("checkout.session.completed", "unpaid"), notification.StatusPending},
		{"checkout free", session("checkout.session.completed", "no_payment_required"), notification.StatusOther},
		{"checkout async paid", session("checkout.session.async_payment_succeeded", "paid"), notification.StatusPaid},
		{"checkout async failed", session("checkout.session.async_payment_failed", "unpaid"), notification.StatusFailed},
		{"checkout expired", session("checkout.session.expired", "unpaid"), notification.StatusClosed},
		{"invoice paid", event("invoice.paid", `{"id":"in_1","object":"invoice","amount_paid":1000,"currency":"usd","metadata":`+md+`,"status":"paid"}`), notification.StatusPaid},
		{"refund succeeded", event("refund.created", `{"id":"re_1","object":"refund","amount":300,"charge":"ch_3PAY","currency":"usd","metadata":{},"payment_intent":"pi_3PAY","status":"succeeded"}`), notification.StatusRefunded},
		{"refund pending", event("refund.created", `{"id":"re_1","object":"refund","amount":300,"charge":"ch_3PAY","currency":"usd","payment_intent":"pi_3PAY","status":"pending"}`), notification.StatusOther},
		{"refund failed", event("refund.failed", `{"id":"re_1","object":"refund","amount":300,"charge":"ch_3PAY","currency":"usd","payment_intent":"pi_3PAY","status":"failed"}`), notification.StatusFailed},
		{"customer", event("customer.created", `{"id":"cus_1","object":"customer","metadata":{"order_id":"O-9"}}`), notification.StatusOther},
		{"unknown object", event("v9.future.thing", `{"object":"something_new","weird":[1,{"a":null}]}`), notification.StatusOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if n := verifyBody(t, c.body); n.Status != c.want {
				t.Fatalf("status %s, want %s", n.Status, c.want)
			}
		})
	}
}

// A paid event whose snapshot says otherwise is a contradiction.
func TestPaidSnapshotMustAgree(t *testing.T) {
	for _, body := range []string{
		event("invoice.paid", `{"id":"in_1","object":"invoice","amount_paid":1000,"currency":"usd","status":"open"}`),
		event("checkout.session.completed", `{"id":"cs_1","object":"checkout.session","amount_total":null,"currency":"usd","payment_status":"paid"}`),
		event("charge.succeeded", `{"id":"ch_1","object":"charge","amount":10,"captured":true,"currency":"usd","status":"pending"}`),
		event("charge.refunded", `{"id":"ch_1","object":"charge","amount":10,"amount_refunded":11,"captured":true,"currency":"usd","status":"succeeded"}`),
		event("payment_intent.succeeded", `{"id":"ch_1","object":"payment_intent","amount":10,"amount_received":10,"currency":"usd","status":"succeeded"}`),
	} {
		_, err := newTestProvider(t).VerifyNotify(signedRequest(body, testSecret))
		wantCode(t, err, reason.Malformed)
	}
}

func TestFields(t *testing.T) {
	t.Run("order number precedence", func(t *testing.T) {
		for md, want := range map[string]string{
			`{"out_trade_no":"A","order_id":"B"}`: "A",
			`{"order_id":"B"}`:                    "B",
			`{"out_trade_no":"","order_id":"B"}`:  "B",
			`{}`:                                  "",
			`null`:                                "",
		} {
			if n := verifyBody(t, piEvent("payment_intent.succeeded", "succeeded", 5, 5, "usd", md)); n.OutTradeNo != want {
				t.Errorf("metadata %s: out_trade_no %q, want %q", md, n.OutTradeNo, want)
			}
		}
	})
	t.Run("checkout client_reference_id first", func(t *testing.T) {
		n := verifyBody(t, event("checkout.session.completed", `{"id":"cs_1","object":"checkout.session","amount_total":700,`+
			`"currency":"eur","client_reference_id":"REF-7","metadata":{"out_trade_no":"A"},"payment_intent":"pi_9","payment_status":"paid"}`))
		if n.OutTradeNo != "REF-7" || n.TransactionID != "pi_9" || n.Amount != 700 || n.Currency != "EUR" {
			t.Fatalf("%+v", n)
		}
		n = verifyBody(t, event("checkout.session.completed", `{"id":"cs_1","object":"checkout.session","amount_total":0,`+
			`"currency":"eur","metadata":{"order_id":"B"},"payment_intent":null,"payment_status":"no_payment_required"}`))
		if n.OutTradeNo != "B" || n.TransactionID != "cs_1" {
			t.Fatalf("%+v", n)
		}
	})
	t.Run("one payment, one transaction id", func(t *testing.T) {
		// payment_intent.succeeded and charge.succeeded of one payment
		// must not look like two payments of the order.
		pi := verifyBody(t, piEvent("payment_intent.succeeded", "succeeded", 5, 5, "usd", `{"out_trade_no":"A"}`))
		ch := verifyBody(t, event("charge.succeeded", `{"id":"ch_1","object":"charge","amount":5,"captured":true,`+
			`"currency":"usd","metadata":{"out_trade_no":"A"},"payment_intent":"pi_3PAYGUARD","status":"succeeded"}`))
		if pi.TransactionID != ch.TransactionID || pi.TransactionID != "pi_3PAYGUARD" {
			t.Fatalf("transactions %s and %s", pi.TransactionID, ch.TransactionID)
		}
		legacy := verifyBody(t, event("charge.succeeded", `{"id":"ch_1","object":"charge","amount":5,"captured":true,"currency":"usd","payment_intent":null,"status":"succeeded"}`))
		if legacy.TransactionID != "ch_1" {
			t.Fatalf("a charge without PaymentIntent: %s", legacy.TransactionID)
		}
	})
	t.Run("amount received after a partial capture", func(t *testing.T) {
		if n := verifyBody(t, piEvent("payment_intent.succeeded", "succeeded", 1000, 800, "usd", `{}`)); n.Amount != 800 {
			t.Fatalf("amount %d, want amount_received 800", n.Amount)
		}
		if n := verifyBody(t, piEvent("payment_intent.processing", "processing", 1000, 0, "usd", `{}`)); n.Amount != 1000 {
			t.Fatalf("pending amount %d, want 1000", n.Amount)
		}
	})
	t.Run("connected account", func(t *testing.T) {
		body := strings.Replace(paidBody, `"livemode":false,"pending`, `"account":"acct_1ABC","livemode":false,"pending`, 1)
		if n := verifyBody(t, body); n.Merchant != "acct_1ABC" {
			t.Fatalf("merchant %q", n.Merchant)
		}
	})
}

func TestRefundFields(t *testing.T) {
	charge := `{"id":"ch_3PAY","object":"charge","amount":10000,"amount_refunded":3000,"captured":true,"currency":"usd",` +
		`"metadata":{"out_trade_no":"ORDER-1"},"payment_intent":"pi_3PAY","refunded":false,"status":"succeeded",` +
		`"refunds":{"object":"list","data":[{"id":"re_old","object":"refund","amount":1000,"created":100},` +
		`{"id":"re_new","object":"refund","amount":2000,"created":200}],"has_more":false}}`
	n := verifyBody(t, event("charge.refunded", charge))
	if n.Status != notification.StatusRefunded || n.Amount != 10000 || n.RefundAmount != 3000 ||
		n.RefundID != "re_new" || n.TransactionID != "pi_3PAY" || n.OutTradeNo != "ORDER-1" {
		t.Fatalf("%+v", n)
	}
	// API versions since 2022-11-15 leave the refunds list out.
	noList := verifyBody(t, event("charge.refunded", `{"id":"ch_3PAY","object":"charge","amount":10000,"amount_refunded":10000,"captured":true,"currency":"usd","payment_intent":"pi_3PAY","refunded":true,"status":"succeeded"}`))
	if noList.RefundAmount != 10000 || noList.RefundID != "" {
		t.Fatalf("%+v", noList)
	}
	// A refund event names the refund itself.
	r := verifyBody(t, event("refund.updated", `{"id":"re_9","object":"refund","amount":2500,"charge":"ch_3PAY","currency":"jpy","metadata":{"order_id":"O-1"},"payment_intent":null,"status":"succeeded"}`))
	if r.Status != notification.StatusRefunded || r.RefundID != "re_9" || r.RefundAmount != 2500 || r.Amount != 2500 ||
		r.Currency != "JPY" || r.TransactionID != "ch_3PAY" || r.OutTradeNo != "O-1" {
		t.Fatalf("%+v", r)
	}
	for _, bad := range []string{
		strings.Replace(charge, `"re_new"`, `"ch_new"`, 1),
		strings.Replace(charge, `"data":[`, `"data":[7,`, 1),
		strings.Replace(charge, `"amount_refunded":3000`, `"amount_refunded":null`, 1),
	} {
		_, err := newTestProvider(t).VerifyNotify(signedRequest(event("charge.refunded", bad), testSecret))
		wantCode(t, err, reason.Malformed)
	}
}

func TestAmounts(t *testing.T) {
	cases := []struct {
		currency string
		stripe   int64
		want     int64
	}{
		{"usd", 1234, 1234},   // cents
		{"jpy", 1234, 1234},   // zero-decimal in Stripe and ISO
		{"krw", 50000, 50000}, // zero-decimal
		{"isk", 123400, 1234}, // Stripe counts hundredths, ISO whole krónur
		{"ugx", 500000, 5000}, // likewise
		{"kwd", 1230, 1230},   // three decimals in both
		{"mga", 1000, 100000}, // Stripe whole ariary, ISO two decimals
		{"huf", 12300, 12300}, // two decimals in the API
	}
	for _, c := range cases {
		n := verifyBody(t, piEvent("payment_intent.succeeded", "succeeded", c.stripe, c.stripe, c.currency, `{}`))
		if n.Amount != c.want || n.Currency != strings.ToUpper(c.currency) {
			t.Errorf("%d %s: amount %d %s, want %d", c.stripe, c.currency, n.Amount, n.Currency, c.want)
		}
		back, err := fromMinor(c.want, strings.ToUpper(c.currency))
		if err != nil || back != c.stripe {
			t.Errorf("fromMinor(%d %s) = %d, %v", c.want, c.currency, back, err)
		}
	}
	// An ISK or UGX amount that is not whole units is refused, never
	// rounded; so is a currency whose Stripe convention is unknown.
	for _, body := range []string{
		piEvent("payment_intent.succeeded", "succeeded", 123456, 123456, "isk", `{}`),
		piEvent("payment_intent.succeeded", "succeeded", 50001, 50001, "ugx", `{}`),
		piEvent("payment_intent.succeeded", "succeeded", 100, 100, "iqd", `{}`),
	} {
		_, err := newTestProvider(t).VerifyNotify(signedRequest(body, testSecret))
		wantCode(t, err, reason.Malformed)
	}
}
