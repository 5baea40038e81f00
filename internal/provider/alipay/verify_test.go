package alipay

import (
	"bytes"
	"crypto"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

const testAppID = "2021000000000001"

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newProvider(t testing.TB, mut func(*Config)) *Provider {
	t.Helper()
	testKeys(t)
	cfg := Config{AppID: testAppID, SellerID: SampleSellerID, PublicKey: providertest.PublicPEM(t, &alipayKey.PublicKey)}
	if mut != nil {
		mut(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sampleParams() map[string]string {
	return SampleNotifyParams(testAppID, "order-1", "12.34", testNow)
}

func sign(t testing.TB, s *Signer, params map[string]string) []byte {
	t.Helper()
	b, err := s.SignNotify(params)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signed(t testing.TB, mut func(map[string]string)) []byte {
	t.Helper()
	testKeys(t)
	ps := sampleParams()
	if mut != nil {
		mut(ps)
	}
	return sign(t, &Signer{Key: alipayKey}, ps)
}

// replaceParam swaps a parameter's encoded value in a form body, after
// signing: the forger's edit.
func replaceParam(t testing.TB, body []byte, key, value string) []byte {
	t.Helper()
	parts := strings.Split(string(body), "&")
	for i, p := range parts {
		if strings.HasPrefix(p, key+"=") {
			parts[i] = key + "=" + url.QueryEscape(value)
			return []byte(strings.Join(parts, "&"))
		}
	}
	t.Fatalf("no %s in body", key)
	return nil
}

func removeParam(body []byte, key string) []byte {
	var out []string
	for _, p := range strings.Split(string(body), "&") {
		if !strings.HasPrefix(p, key+"=") {
			out = append(out, p)
		}
	}
	return []byte(strings.Join(out, "&"))
}

func TestVerifySignedSample(t *testing.T) {
	p := newProvider(t, nil)
	ps := sampleParams()
	v, err := p.VerifyNotify(&provider.Request{Method: "POST", Body: sign(t, &Signer{Key: alipayKey}, ps), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.Amount != 1234 || n.Currency != "CNY" || n.Status != notification.StatusPaid || n.Type != "payment.succeeded" ||
		n.OutTradeNo != "order-1" || n.TransactionID != ps["trade_no"] || n.EventID != ps["notify_id"] || n.Merchant != testAppID {
		t.Fatalf("%+v", n)
	}
	if want := testNow.Add(-2 * time.Second); !n.OccurredAt.Equal(want) || n.OccurredAt.Location() != time.UTC {
		t.Fatalf("occurred_at %v, want %v UTC", n.OccurredAt, want)
	}
	if _, ok := n.Fields()["sign"]; ok {
		t.Fatal("sign in raw")
	}
	if _, ok := n.Fields()["sign_type"]; ok {
		t.Fatal("sign_type in raw")
	}
	if n.Fields()["fund_bill_list"] != ps["fund_bill_list"] {
		t.Fatal("nested JSON string not kept as is")
	}
}

func TestVerifyRejections(t *testing.T) {
	testKeys(t)
	base := signed(t, nil)
	withParams := func(mut func(map[string]string)) []byte { return signed(t, mut) }
	cases := []struct {
		name  string
		body  []byte
		query string
		cfg   func(*Config)
		want  reason.Code
	}{
		{name: "tampered amount", body: replaceParam(t, base, "total_amount", "0.01"), want: reason.BadSignature},
		{name: "tampered out_trade_no", body: replaceParam(t, base, "out_trade_no", "order-2"), want: reason.BadSignature},
		{name: "another key", body: sign(t, &Signer{Key: otherKey}, sampleParams()), want: reason.BadSignature},
		{name: "downgraded sign_type RSA", body: sign(t, &Signer{Key: alipayKey, SignType: SignTypeRSA}, sampleParams()), want: reason.BadSignature},
		{name: "sign_type relabelled RSA", body: replaceParam(t, base, "sign_type", "RSA"), want: reason.BadSignature},
		{name: "sign_type lower case", body: replaceParam(t, base, "sign_type", "rsa2"), want: reason.BadSignature},
		{name: "sign_type missing", body: removeParam(base, "sign_type"), want: reason.BadSignature},
		{name: "sign missing", body: removeParam(base, "sign"), want: reason.BadSignature},
		{name: "sign empty", body: replaceParam(t, base, "sign", ""), want: reason.BadSignature},
		{name: "sign bad base64", body: replaceParam(t, base, "sign", "!!not base64!!"), want: reason.BadSignature},
		{name: "duplicated parameter", body: append(bytes.Clone(base), "&total_amount=12.34"...), want: reason.Malformed},
		{name: "duplicated after decoding", body: append(bytes.Clone(base), "&%74otal_amount=12.34"...), want: reason.Malformed},
		{name: "parameter also in URL query", body: base, query: "total_amount=0.01", want: reason.Malformed},
		{name: "sign also in URL query", body: base, query: "sign=abc", want: reason.Malformed},
		{name: "malformed URL query", body: base, query: "a=%G1", want: reason.Malformed},
		{name: "bad percent-escape", body: append(bytes.Clone(base), "&x=%zz"...), want: reason.Malformed},
		{name: "truncated percent-escape", body: append(bytes.Clone(base), "&x=%4"...), want: reason.Malformed},
		{name: "empty key", body: append(bytes.Clone(base), "&=1"...), want: reason.Malformed},
		{name: "segment without =", body: append(bytes.Clone(base), "&flag"...), want: reason.Malformed},
		{name: "trailing ampersand", body: append(bytes.Clone(base), '&'), want: reason.Malformed},
		{name: "empty body", body: nil, want: reason.BadSignature},
		{name: "wrong app_id", body: withParams(func(m map[string]string) { m["app_id"] = "2021000000000002" }), want: reason.BadSignature},
		{name: "missing app_id", body: withParams(func(m map[string]string) { delete(m, "app_id") }), want: reason.BadSignature},
		{name: "wrong seller_id", body: withParams(func(m map[string]string) { m["seller_id"] = "2088999999999999" }), want: reason.BadSignature},
		{name: "missing seller_id", body: withParams(func(m map[string]string) { delete(m, "seller_id") }), want: reason.BadSignature},
		{name: "total_amount 1.234", body: withParams(func(m map[string]string) { m["total_amount"] = "1.234" }), want: reason.Malformed},
		{name: "total_amount -1", body: withParams(func(m map[string]string) { m["total_amount"] = "-1" }), want: reason.Malformed},
		{name: "total_amount 1e3", body: withParams(func(m map[string]string) { m["total_amount"] = "1e3" }), want: reason.Malformed},
		{name: "total_amount empty", body: withParams(func(m map[string]string) { m["total_amount"] = "" }), want: reason.Malformed},
		{name: "total_amount missing", body: withParams(func(m map[string]string) { delete(m, "total_amount") }), want: reason.Malformed},
		{name: "refund_fee bad", body: withParams(func(m map[string]string) { m["refund_fee"] = "1,00" }), want: reason.Malformed},
		{name: "trans_currency bad", body: withParams(func(m map[string]string) { m["trans_currency"] = "usd" }), want: reason.Malformed},
		{name: "notify_id missing", body: withParams(func(m map[string]string) { delete(m, "notify_id") }), want: reason.Malformed},
		{name: "out_trade_no missing", body: withParams(func(m map[string]string) { delete(m, "out_trade_no") }), want: reason.Malformed},
		{name: "unknown charset", body: withParams(func(m map[string]string) { m["charset"] = "big5" }), want: reason.Malformed},
		{name: "invalid utf-8 in utf-8 message", body: withParams(func(m map[string]string) { m["subject"] = "\xff\xfe" }), want: reason.Malformed},
		{name: "RSA2 message, RSA configured", body: base, cfg: func(c *Config) { c.SignType = SignTypeRSA }, want: reason.BadSignature},
		{name: "notify_time unparseable", body: withParams(func(m map[string]string) { m["notify_time"] = "yesterday" }), want: reason.Malformed},
		{name: "notify_time missing", body: withParams(func(m map[string]string) { delete(m, "notify_time") }), want: reason.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newProvider(t, c.cfg)
			_, err := p.VerifyNotify(&provider.Request{Method: "POST", Body: c.body, RawQuery: c.query})
			code(t, err, c.want)
			// Details stay short and never hold the signature or the body.
			msg := err.Error()
			sig, _ := url.QueryUnescape(strings.SplitN(strings.SplitN(string(base), "sign=", 2)[1], "&", 2)[0])
			if len(msg) > 200 || strings.Contains(msg, sig[:20]) || strings.Contains(msg, "fund_bill_list") {
				t.Fatalf("error detail too revealing: %s", msg)
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	testKeys(t)
	cases := []struct {
		name   string
		mut    func(map[string]string)
		cfg    func(*Config)
		signer *Signer
		query  string
		check  func(t *testing.T, n notification.Notification)
	}{
		{name: "unrelated URL query", query: "route=alipay"},
		{name: "no seller_id configured", cfg: func(c *Config) { c.SellerID = "" }, mut: func(m map[string]string) { m["seller_id"] = "2088999999999999" }},
		{name: "RSA (SHA1) when configured", cfg: func(c *Config) { c.SignType = "RSA" }, signer: &Signer{Key: alipayKey, SignType: SignTypeRSA}},
		{name: "empty value kept in signed string", mut: func(m map[string]string) { m["body"] = "" },
			check: func(t *testing.T, n notification.Notification) {
				if v, ok := n.Fields()["body"]; !ok || v != "" {
					t.Fatalf("raw body %v %v", v, ok)
				}
			}},
		{name: "value with & = + and braces", mut: func(m map[string]string) { m["passback_params"] = `a=1&b=2+3 {"x":"}"}` },
			check: func(t *testing.T, n notification.Notification) {
				if n.Fields()["passback_params"] != `a=1&b=2+3 {"x":"}"}` {
					t.Fatalf("passback %q", n.Fields()["passback_params"])
				}
			}},
		{name: "charset UTF-8 upper case", mut: func(m map[string]string) { m["charset"] = "UTF-8" }},
		{name: "no charset means utf-8", mut: func(m map[string]string) { delete(m, "charset"); m["subject"] = "语雀空间" },
			check: func(t *testing.T, n notification.Notification) {
				if n.Fields()["subject"] != "语雀空间" {
					t.Fatal(n.Fields()["subject"])
				}
			}},
		{name: "cross-border trans_currency", mut: func(m map[string]string) { m["trans_currency"] = "JPY"; m["total_amount"] = "1200" },
			check: func(t *testing.T, n notification.Notification) {
				if n.Currency != "JPY" || n.Amount != 1200 {
					t.Fatalf("%s %d", n.Currency, n.Amount)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newProvider(t, c.cfg)
			ps := sampleParams()
			if c.mut != nil {
				c.mut(ps)
			}
			s := c.signer
			if s == nil {
				s = &Signer{Key: alipayKey}
			}
			v, err := p.VerifyNotify(&provider.Request{Method: "POST", Body: sign(t, s, ps), RawQuery: c.query})
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, v.Notification)
			}
		})
	}
}

// A signature over the sorted string with empty values dropped (gopay's and
// the request signer's rule) is not Alipay's notification rule: refused.
func TestEmptyValueDroppedRuleRefused(t *testing.T) {
	p := newProvider(t, nil)
	ps := sampleParams()
	ps["body"] = ""
	ps["sign_type"] = SignTypeRSA2
	var ks []string
	for k, v := range ps {
		if v != "" && k != "sign_type" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var b []byte
	for i, k := range ks {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, k+"="+ps[k]...)
	}
	sig, err := (&Signer{Key: alipayKey}).Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	vals := url.Values{}
	for k, v := range ps {
		vals.Set(k, v)
	}
	vals.Set("sign", sig)
	_, err = p.VerifyNotify(&provider.Request{Body: []byte(vals.Encode())})
	code(t, err, reason.BadSignature)
}

// A '+' in a sign sent unescaped is a space by the form rules, which
// breaks the base64 (smartwalle/alipay#132): refused, never patched up.
func TestSignPlusIsSpace(t *testing.T) {
	p := newProvider(t, nil)
	for i := 0; i < 50; i++ {
		body := signed(t, nil)
		if !bytes.Contains(body, []byte("%2B")) {
			continue
		}
		_, err := p.VerifyNotify(&provider.Request{Body: bytes.ReplaceAll(body, []byte("%2B"), []byte("+"))})
		code(t, err, reason.BadSignature)
		return
	}
	t.Fatal("no signature with '+' in 50 tries")
}

func TestStatusMap(t *testing.T) {
	cases := []struct {
		status, refund string
		want           notification.Status
	}{
		{"WAIT_BUYER_PAY", "", notification.StatusPending},
		{"TRADE_SUCCESS", "", notification.StatusPaid},
		{"TRADE_SUCCESS", "0.00", notification.StatusPaid},
		{"TRADE_SUCCESS", "1.00", notification.StatusRefunded},
		{"TRADE_FINISHED", "", notification.StatusPaid},
		{"TRADE_FINISHED", "0.01", notification.StatusRefunded},
		{"TRADE_CLOSED", "12.34", notification.StatusRefunded},
		{"TRADE_CLOSED", "", notification.StatusClosed},
		{"TRADE_PENDING", "", notification.StatusOther},
		{"", "", notification.StatusOther},
	}
	p := newProvider(t, nil)
	for _, c := range cases {
		t.Run(c.status+"/"+c.refund, func(t *testing.T) {
			ps := sampleParams()
			ps["trade_status"] = c.status
			if c.status == "" {
				delete(ps, "trade_status")
			}
			if c.refund != "" {
				ps["refund_fee"] = c.refund
				ps["gmt_refund"] = "2026-03-04 14:00:00.000"
				ps["out_biz_no"] = "refund-1"
			}
			if c.status == "TRADE_CLOSED" {
				ps["gmt_close"] = "2026-03-04 15:00:00"
			}
			v, err := p.VerifyNotify(&provider.Request{Body: sign(t, &Signer{Key: alipayKey}, ps)})
			if err != nil {
				t.Fatal(err)
			}
			n := v.Notification
			if n.Status != c.want || n.Type != notification.TypeFor(c.want) {
				t.Fatalf("status %s type %s, want %s", n.Status, n.Type, c.want)
			}
			if c.status == "TRADE_CLOSED" && c.refund == "" && n.OccurredAt.Hour() != 7 {
				t.Fatalf("closed occurred_at %v, want gmt_close", n.OccurredAt)
			}
		})
	}
}

// A GBK notification is signed over its GBK bytes: it verifies over the raw
// decoded bytes and is transcoded to UTF-8 only afterwards.
func TestGBKNotification(t *testing.T) {
	p := newProvider(t, nil)
	gbk := func(s string) string {
		e, err := simplifiedchinese.GBK.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, cs := range []string{"GBK", "gbk", "gb2312", "GB18030"} {
		t.Run(cs, func(t *testing.T) {
			ps := sampleParams()
			ps["charset"] = cs
			ps["subject"] = gbk("测试商品 支付")
			ps["body"] = gbk("语雀空间")
			body := sign(t, &Signer{Key: alipayKey}, ps)
			if !bytes.Contains(body, []byte("subject=%B2%E2%CA%D4")) {
				t.Fatalf("not GBK on the wire: %s", body)
			}
			// Whatever the unsigned Content-Type says.
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}
			v, err := p.VerifyNotify(&provider.Request{Method: "POST", Header: h, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Notification.Fields()["subject"]; got != "测试商品 支付" {
				t.Fatalf("subject %q", got)
			}
			if got := v.Notification.Fields()["body"]; got != "语雀空间" {
				t.Fatalf("body %q", got)
			}
			if got := v.Notification.Fields()["charset"]; got != cs {
				t.Fatalf("charset %q", got)
			}
		})
	}
	// The charset is signed: relabelling it breaks the signature.
	ps := sampleParams()
	ps["charset"] = "GBK"
	ps["subject"] = gbk("测试商品")
	body := replaceParam(t, sign(t, &Signer{Key: alipayKey}, ps), "charset", "utf-8")
	_, err := p.VerifyNotify(&provider.Request{Body: body})
	code(t, err, reason.BadSignature)
	// Signing the UTF-8 text while claiming GBK does not verify over the
	// GBK bytes the shop would see: verification is over the wire bytes.
	ps = sampleParams()
	ps["charset"] = "GBK"
	ps["subject"] = "测试商品"
	b := sign(t, &Signer{Key: alipayKey}, ps)
	b = replaceParam(t, b, "subject", gbk("测试商品"))
	_, err = p.VerifyNotify(&provider.Request{Body: b})
	code(t, err, reason.BadSignature)
}

func TestReturnMode(t *testing.T) {
	p := newProvider(t, func(c *Config) { c.Mode = "return" })
	if tr := p.Traits(); tr.Method != http.MethodGet || !tr.Passthrough {
		t.Fatalf("traits %+v", tr)
	}
	ps := map[string]string{
		"app_id": testAppID, "auth_app_id": testAppID, "charset": "utf-8", "method": "alipay.trade.page.pay.return",
		"out_trade_no": "order-1", "seller_id": SampleSellerID, "timestamp": "2026-03-04 13:06:07",
		"total_amount": "12.34", "trade_no": "2026030422001400000000000001", "version": "1.0",
	}
	q := string(sign(t, &Signer{Key: alipayKey}, ps))
	v, err := p.VerifyNotify(&provider.Request{Method: "GET", RawQuery: q})
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.EventID != ps["trade_no"] || n.Amount != 1234 || n.OutTradeNo != "order-1" || n.Status != notification.StatusPending {
		t.Fatalf("%+v", n)
	}
	if !n.OccurredAt.Equal(testNow) {
		t.Fatalf("occurred_at %v", n.OccurredAt)
	}
	_, err = p.VerifyNotify(&provider.Request{Method: "GET", RawQuery: q, Body: []byte("x=1")})
	code(t, err, reason.Malformed)
	_, err = p.VerifyNotify(&provider.Request{Method: "GET", RawQuery: string(replaceParam(t, []byte(q), "total_amount", "0.01"))})
	code(t, err, reason.BadSignature)
	// A notify-mode provider reads the body, not the query.
	_, err = newProvider(t, nil).VerifyNotify(&provider.Request{Method: "POST", RawQuery: q})
	code(t, err, reason.BadSignature)
}

func TestNilRequest(t *testing.T) {
	_, err := newProvider(t, nil).VerifyNotify(nil)
	code(t, err, reason.Malformed)
}

func TestAcknowledge(t *testing.T) {
	p := newProvider(t, nil)
	a := p.Acknowledge(true, reason.Forwarded, 200)
	if a.Status != 200 || string(a.Body) != "success" || a.ContentType != "text/plain; charset=utf-8" {
		t.Fatalf("%+v", a)
	}
	a = p.Acknowledge(true, reason.Duplicate, 200)
	if string(a.Body) != "success" {
		t.Fatalf("%+v", a)
	}
	for _, c := range []struct {
		code   reason.Code
		status int
	}{{reason.BadSignature, 401}, {reason.StoreUnavailable, 503}, {reason.InFlight, 409}, {reason.Malformed, 0}} {
		a = p.Acknowledge(false, c.code, c.status)
		want := c.status
		if want == 0 {
			want = 400
		}
		if a.Status != want || string(a.Body) != "fail" {
			t.Fatalf("%s: %+v", c.code, a)
		}
	}
}

// The hash follows configuration only.
func TestHashFromConfig(t *testing.T) {
	if p := newProvider(t, nil); p.hash != crypto.SHA256 {
		t.Fatal(p.hash)
	}
	if p := newProvider(t, func(c *Config) { c.SignType = "rsa" }); p.hash != crypto.SHA1 || p.signType != "RSA" {
		t.Fatal(p.hash)
	}
}
