package wechatpay

import (
	"crypto/aes"
	"encoding/base64"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

func newV2(t testing.TB, signType string, mutate ...func(*V2Config)) *V2 {
	t.Helper()
	cfg := V2Config{MchID: "10000100", AppID: testAppID, APIKey: []byte(testV2Key), SignType: signType}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := NewV2(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// samplePayment is a payment notice's fields (without sign).
func samplePayment() map[string]string {
	return map[string]string{
		"appid":          testAppID,
		"bank_type":      "CFT",
		"cash_fee":       "1",
		"fee_type":       "CNY",
		"is_subscribe":   "Y",
		"mch_id":         "10000100",
		"nonce_str":      "5d2b6c2a8db53831f7eda20af46e531c",
		"openid":         "oUpF8uMEb4qRXf22hE3X68TekukE",
		"out_trade_no":   "1409811653",
		"result_code":    "SUCCESS",
		"return_code":    "SUCCESS",
		"time_end":       "20140903131540",
		"total_fee":      "1",
		"trade_type":     "JSAPI",
		"transaction_id": "1004400740201409030005092168",
	}
}

func sampleRefundOuter() map[string]string {
	return map[string]string{"return_code": "SUCCESS", "appid": testAppID, "mch_id": "10000100", "nonce_str": "TeqClE3i0mvn3DrK"}
}

func sampleRefundInfo() map[string]string {
	return map[string]string{
		"out_refund_no":         "R-1409811653",
		"out_trade_no":          "1409811653",
		"refund_account":        "REFUND_SOURCE_RECHARGE_FUNDS",
		"refund_fee":            "1",
		"refund_id":             "50000408942018111907145868882",
		"refund_recv_accout":    "支付用户零钱",
		"refund_request_source": "API",
		"refund_status":         "SUCCESS",
		"settlement_refund_fee": "1",
		"settlement_total_fee":  "1",
		"success_time":          "2018-11-19 16:24:13",
		"total_fee":             "1",
		"transaction_id":        "4200000215201811190261405420",
	}
}

func v2Req(body []byte) *provider.Request {
	return &provider.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"text/xml"}}, Body: body, Now: testNow}
}

func TestV2Vectors(t *testing.T) {
	v := loadVectors(t, "wechatpay_v2.json")
	params := func(c map[string]any) map[string]string {
		m := map[string]string{}
		for k, x := range c["params"].(map[string]any) {
			m[k] = x.(string)
		}
		return m
	}
	for _, name := range []string{"doc_example_md5", "doc_example_hmac_sha256"} {
		t.Run(name, func(t *testing.T) {
			c := v[name]
			key := []byte(c["api_key"].(string))
			f := params(c)
			if got := string(v2SignString(f, key)); got != c["string_sign_temp"].(string) {
				t.Fatalf("string %q", got)
			}
			st := c["sign_type"].(string)
			s := &V2Signer{APIKey: key, SignType: st}
			if got := s.Sign(f); got != c["expected_sign"].(string) {
				t.Fatalf("sign %s, want %s", got, c["expected_sign"])
			}
			// Verification accepts the expected sign in either hex case.
			for _, sign := range []string{c["expected_sign"].(string), strings.ToLower(c["expected_sign"].(string))} {
				f["sign"] = sign
				if rerr := checkV2Sign(f, key, st); rerr != nil {
					t.Fatalf("%s: %v", sign, rerr)
				}
			}
			// An empty field is not signed; sign itself is not signed.
			f["empty"] = ""
			if s.Sign(f) != c["expected_sign"].(string) {
				t.Fatal("empty field or sign changed the signature")
			}
		})
	}
	t.Run("downgrade_md5_sign_to_hmac_configured_verifier", func(t *testing.T) {
		c := v["downgrade_md5_sign_to_hmac_configured_verifier"]
		f := params(c)
		f["sign"] = c["sign"].(string)
		rerr := checkV2Sign(f, []byte(c["api_key"].(string)), c["configured_sign_type"].(string))
		wantReason(t, rerr, reason.BadSignature, nil, "")
		// Saying sign_type=MD5 in the message does not help either.
		f["sign_type"] = "MD5"
		rerr = checkV2Sign(f, []byte(c["api_key"].(string)), c["configured_sign_type"].(string))
		wantReason(t, rerr, reason.BadSignature, nil, "sign_type")
	})
}

func TestParseXML(t *testing.T) {
	good := map[string]struct {
		in   string
		want map[string]string
	}{
		"cdata and text": {`<xml><a><![CDATA[x<y]]></a><b>1</b></xml>`, map[string]string{"a": "x<y", "b": "1"}},
		"declaration and whitespace": {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <a>1</a>\n</xml>\n",
			map[string]string{"a": "1"}},
		"mixed text and cdata":    {`<xml><a>x<![CDATA[y]]>&amp;&#x41;</a></xml>`, map[string]string{"a": "xy&A"}},
		"empty elements":          {`<xml><a/><b></b></xml>`, map[string]string{"a": "", "b": ""}},
		"empty root":              {`<xml/>`, map[string]string{}},
		"value whitespace kept":   {`<xml><a> 1 </a></xml>`, map[string]string{"a": " 1 "}},
		"non-ASCII":               {`<xml><a>支付成功</a></xml>`, map[string]string{"a": "支付成功"}},
		"built-in entities":       {`<xml><a>&lt;&gt;&quot;&apos;</a></xml>`, map[string]string{"a": `<>"'`}},
		"declaration with CRLF":   {"<?xml version=\"1.0\"?>\r\n<xml><a>1</a></xml>", map[string]string{"a": "1"}},
		"latin1 is not declared ": {`<xml><a>é</a></xml>`, map[string]string{"a": "é"}},
	}
	for name, c := range good {
		got, err := ParseXML([]byte(c.in))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
	bad := map[string]string{
		"XXE": `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`,
		"billion laughs": `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
			`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><a>&lol3;</a></xml>`,
		"DOCTYPE without entities":   `<!DOCTYPE xml><xml><a>1</a></xml>`,
		"undeclared entity":          `<xml><a>&lol;</a></xml>`,
		"HTML entity":                `<xml><a>&nbsp;</a></xml>`,
		"duplicate element":          `<xml><total_fee>1</total_fee><total_fee>100</total_fee></xml>`,
		"nested element":             `<xml><a><b>1</b></a></xml>`,
		"trailing garbage":           `<xml><a>1</a></xml>garbage`,
		"trailing element":           `<xml><a>1</a></xml><xml></xml>`,
		"trailing comment":           `<xml><a>1</a></xml><!-- x -->`,
		"trailing PI":                `<xml><a>1</a></xml><?xml version="1.0"?>`,
		"non-xml root":               `<root><a>1</a></root>`,
		"PI inside":                  `<xml><?php echo 1; ?><a>1</a></xml>`,
		"declaration not first":      ` <?xml version="1.0"?><xml><a>1</a></xml>`,
		"comment in value":           `<xml><a>1<!-- x -->2</a></xml>`,
		"attribute":                  `<xml><a x="1">1</a></xml>`,
		"namespace":                  `<xml xmlns="urn:x"><a>1</a></xml>`,
		"prefixed element":           `<xml><p:a>1</p:a></xml>`,
		"text in root":               `<xml>hello<a>1</a></xml>`,
		"GBK declared":               `<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`,
		"unclosed":                   `<xml><a>1</a>`,
		"mismatched":                 `<xml><a>1</b></xml>`,
		"empty":                      ``,
		"whitespace only":            " \n",
		"NUL":                        "<xml><a>\x00</a></xml>",
		"BOM":                        "\ufeff<xml><a>1</a></xml>",
		"JSON":                       `{"a":1}`,
		"CDATA outside":              `<xml><![CDATA[x]]><a>1</a></xml>`,
		"too many elements":          "<xml>" + strings.Repeat("<a>1</a>", 1) + manyElements(600) + "</xml>",
		"invalid char reference":     `<xml><a>&#0;</a></xml>`,
		"external DTD in decl order": `<?xml version="1.0" standalone="no"?><!DOCTYPE xml SYSTEM "http://x/y.dtd"><xml/>`,
	}
	for name, in := range bad {
		got, err := ParseXML([]byte(in))
		if err == nil {
			t.Errorf("%s: accepted %v", name, got)
		}
	}
}

func manyElements(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("<e")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + (i/26)%26)))
		b.WriteString(">1</e")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + (i/26)%26)))
		b.WriteString(">")
	}
	return b.String()
}

func TestRenderXMLRoundTrip(t *testing.T) {
	f := map[string]string{"a": "x]]>y", "b": "line\r\nbreak", "c": "tab\there", "d": "<&>", "e": "", "f": "普通"}
	got, err := ParseXML(renderXML("xml", f))
	if err != nil || !reflect.DeepEqual(got, f) {
		t.Fatalf("%v %v", got, err)
	}
}

func TestV2Payment(t *testing.T) {
	for _, st := range []string{SignTypeMD5, SignTypeHMACSHA256} {
		t.Run(st, func(t *testing.T) {
			p := newV2(t, st)
			s := &V2Signer{APIKey: []byte(testV2Key), SignType: st}
			for _, withSignType := range []bool{false, true} {
				f := samplePayment()
				if withSignType {
					f["sign_type"] = st
				}
				ver, err := p.VerifyNotify(v2Req(s.SignNotify(f)))
				if err != nil {
					t.Fatal(err)
				}
				n := ver.Notification
				if n.EventID != "1004400740201409030005092168" || n.TransactionID != n.EventID || n.OutTradeNo != "1409811653" ||
					n.Amount != 1 || n.Currency != "CNY" || n.Status != notification.StatusPaid || n.Type != "payment.succeeded" ||
					n.Merchant != "10000100" || n.Provider != V2Name {
					t.Fatalf("%+v", n)
				}
				if want := time.Date(2014, 9, 3, 5, 15, 40, 0, time.UTC); !n.OccurredAt.Equal(want) {
					t.Fatalf("OccurredAt %v", n.OccurredAt)
				}
				if _, has := n.Fields()["sign"]; has || n.Fields()["openid"] != "oUpF8uMEb4qRXf22hE3X68TekukE" {
					t.Fatalf("Raw %v", n.Fields())
				}
				if !ver.Timestamp.IsZero() || ver.Nonce != "" {
					t.Fatal("v2 signs no timestamp or per-delivery nonce")
				}
			}
		})
	}
	p := newV2(t, "")
	s := &V2Signer{APIKey: []byte(testV2Key)}
	f := samplePayment()
	f["result_code"] = "FAIL"
	delete(f, "fee_type")
	f["total_fee"] = "88"
	ver, err := p.VerifyNotify(v2Req(s.SignNotify(f)))
	if err != nil {
		t.Fatal(err)
	}
	if n := ver.Notification; n.Status != notification.StatusFailed || n.Currency != "CNY" || n.Amount != 88 || n.Type != "payment.failed" {
		t.Fatalf("%+v", n)
	}
}

func TestV2Rejections(t *testing.T) {
	p := newV2(t, SignTypeHMACSHA256)
	s := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeHMACSHA256}
	md5s := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeMD5}
	with := func(mut func(f map[string]string)) []byte {
		f := samplePayment()
		mut(f)
		return s.SignNotify(f)
	}
	good := string(s.SignNotify(samplePayment()))
	cases := []struct {
		name   string
		body   []byte
		code   reason.Code
		detail string
	}{
		{"XXE with DOCTYPE and ENTITY", []byte(`<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
			strings.Replace(good, "<openid>", "<attach>&xxe;</attach><openid>", 1)), reason.Malformed, "DOCTYPE"},
		{"billion laughs", []byte(`<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` +
			strings.Replace(good, "<openid>", "<attach>&c;</attach><openid>", 1)), reason.Malformed, "DOCTYPE"},
		{"undeclared entity", []byte(strings.Replace(good, "<openid>", "<attach>&c;</attach><openid>", 1)), reason.Malformed, "entity"},
		{"duplicate element", []byte(strings.Replace(good, "<openid>", "<total_fee>100</total_fee><openid>", 1)), reason.Malformed, "repeated"},
		{"nested element", []byte(strings.Replace(good, "<openid>", "<attach><x>1</x></attach><openid>", 1)), reason.Malformed, "nested"},
		{"trailing garbage", []byte(good + "<xml><total_fee>100</total_fee></xml>"), reason.Malformed, "after"},
		{"non-xml root", []byte(strings.ReplaceAll(good, "xml>", "root>")), reason.Malformed, "root"},
		{"wrong sign", []byte(strings.Replace(good, "<total_fee><![CDATA[1]]>", "<total_fee><![CDATA[2]]>", 1)), reason.BadSignature, "does not verify"},
		{"empty body", nil, reason.Malformed, ""},
		{"unsigned", renderXML("xml", samplePayment()), reason.BadSignature, "sign missing"},
		{"sign not hex", []byte(strings.Replace(good, "<sign><![CDATA[", "<sign><![CDATA[Z", 1)), reason.BadSignature, "hex"},
		{"downgrade: MD5 sign to HMAC merchant", md5s.SignNotify(samplePayment()), reason.BadSignature, "does not verify"},
		{"downgrade: sign_type=MD5 to HMAC merchant", md5s.SignNotify(func() map[string]string {
			f := samplePayment()
			f["sign_type"] = "MD5"
			return f
		}()), reason.BadSignature, "sign_type"},
		{"non-integer total_fee", with(func(f map[string]string) { f["total_fee"] = "0.01" }), reason.Malformed, "total_fee"},
		{"negative total_fee", with(func(f map[string]string) { f["total_fee"] = "-1" }), reason.Malformed, "total_fee"},
		{"total_fee missing", with(func(f map[string]string) { delete(f, "total_fee") }), reason.Malformed, "total_fee"},
		{"appid mismatch", with(func(f map[string]string) { f["appid"] = "wx0000000000000000" }), reason.BadSignature, "appid mismatch"},
		{"mch_id mismatch", with(func(f map[string]string) { f["mch_id"] = "10000101" }), reason.BadSignature, "mch_id mismatch"},
		{"return_code FAIL", with(func(f map[string]string) { f["return_code"] = "FAIL" }), reason.Malformed, "return_code"},
		{"result_code unknown", with(func(f map[string]string) { f["result_code"] = "MAYBE" }), reason.Malformed, "result_code"},
		{"transaction_id missing", with(func(f map[string]string) { delete(f, "transaction_id") }), reason.Malformed, "transaction_id"},
		{"out_trade_no missing", with(func(f map[string]string) { delete(f, "out_trade_no") }), reason.Malformed, "out_trade_no"},
		{"bad time_end", with(func(f map[string]string) { f["time_end"] = "2014-09-03" }), reason.Malformed, "time_end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ver, err := p.VerifyNotify(v2Req(c.body))
			if ver != nil {
				t.Fatalf("accepted %+v", ver.Notification)
			}
			wantReason(t, err, c.code, c.body, c.detail)
		})
	}
	if _, err := p.VerifyNotify(nil); reason.CodeOf(err, "") != reason.Malformed {
		t.Fatal(err)
	}
}

// ecbEncryptRaw encrypts buf (already a whole number of blocks) with
// AES-ECB, no padding added: for hand-made bad padding.
func ecbEncryptRaw(key, buf []byte) string {
	b, _ := aes.NewCipher(key)
	out := make([]byte, len(buf))
	for i := 0; i < len(buf); i += 16 {
		b.Encrypt(out[i:i+16], buf[i:i+16])
	}
	return base64.StdEncoding.EncodeToString(out)
}

func TestV2Refund(t *testing.T) {
	p := newV2(t, "")
	s := &V2Signer{APIKey: []byte(testV2Key)}
	for st, want := range map[string]notification.Status{
		"SUCCESS": notification.StatusRefunded, "CHANGE": notification.StatusFailed, "REFUNDCLOSE": notification.StatusOther,
	} {
		info := sampleRefundInfo()
		info["refund_status"] = st
		ver, err := p.VerifyNotify(v2Req(s.SignRefundNotify(sampleRefundOuter(), info)))
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		n := ver.Notification
		if n.EventID != "4200000215201811190261405420:refund:50000408942018111907145868882" || n.Status != want ||
			n.Amount != 1 || n.Currency != "CNY" || n.OutTradeNo != "1409811653" || n.TransactionID != "4200000215201811190261405420" ||
			!strings.HasPrefix(n.Type, "refund.") || n.Merchant != "10000100" {
			t.Fatalf("%s: %+v", st, n)
		}
		if st == "SUCCESS" && !n.OccurredAt.Equal(time.Date(2018, 11, 19, 8, 24, 13, 0, time.UTC)) {
			t.Fatalf("OccurredAt %v", n.OccurredAt)
		}
		inner, ok := n.Fields()["req_info"].(map[string]any)
		if !ok || inner["refund_id"] != "50000408942018111907145868882" || n.Fields()["nonce_str"] != "TeqClE3i0mvn3DrK" {
			t.Fatalf("Raw %v", n.Fields())
		}
	}

	key := []byte(hexMD5(testV2Key))
	padded := func(pt string, pad []byte) string {
		return ecbEncryptRaw(key, append([]byte(pt), pad...))
	}
	withReqInfo := func(ri string) []byte {
		o := sampleRefundOuter()
		o["req_info"] = ri
		return renderXML("xml", o)
	}
	plain := string(renderXML("root", sampleRefundInfo()))
	n := 16 - len(plain)%16
	goodPad := []byte(strings.Repeat(string(rune(n)), n))
	if n < 2 {
		t.Fatal("test plaintext needs at least two padding bytes")
	}
	badPad := append([]byte{}, goodPad...)
	badPad[0] ^= 0xff
	wrongKey := &V2Signer{APIKey: []byte("00000000000000000000000000000000")}
	cases := []struct {
		name   string
		body   []byte
		code   reason.Code
		detail string
	}{
		{"control: good padding", withReqInfo(padded(plain, goodPad)), "", ""},
		{"bad padding", withReqInfo(padded(plain, badPad)), reason.BadSignature, "padding"},
		{"zero padding byte", withReqInfo(ecbEncryptRaw(key, append([]byte(plain), make([]byte, n)...))), reason.BadSignature, "padding"},
		{"padding longer than a block", withReqInfo(ecbEncryptRaw(key, append([]byte(plain), []byte(strings.Repeat("\x11", n))...))), reason.BadSignature, "padding"},
		{"wrong key", wrongKey.SignRefundNotify(sampleRefundOuter(), sampleRefundInfo()), reason.BadSignature, "req_info"},
		{"not base64", withReqInfo("%%%"), reason.BadSignature, "base64"},
		{"not whole blocks", withReqInfo(base64.StdEncoding.EncodeToString([]byte("short"))), reason.BadSignature, "blocks"},
		{"empty req_info", withReqInfo(""), reason.BadSignature, ""},
		{"plaintext not XML", withReqInfo(padded("0123456789abcde", []byte{1})), reason.BadSignature, "<root>"},
		{"plaintext with DOCTYPE", withReqInfo(encryptReqInfo(key, []byte(`<!DOCTYPE root [<!ENTITY x "y">]>`+plain))), reason.BadSignature, "<root>"},
		{"refund_id missing", s.SignRefundNotify(sampleRefundOuter(), func() map[string]string {
			i := sampleRefundInfo()
			delete(i, "refund_id")
			return i
		}()), reason.Malformed, "refund_id"},
		{"refund_fee not integer", s.SignRefundNotify(sampleRefundOuter(), func() map[string]string {
			i := sampleRefundInfo()
			i["refund_fee"] = "0.01"
			return i
		}()), reason.Malformed, "refund_fee"},
		{"appid mismatch", s.SignRefundNotify(func() map[string]string {
			o := sampleRefundOuter()
			o["appid"] = "wx1"
			return o
		}(), sampleRefundInfo()), reason.BadSignature, "appid"},
		{"forged sign on a refund notice", func() []byte {
			o := sampleRefundOuter()
			o["req_info"] = s.EncryptReqInfo(sampleRefundInfo())
			o["sign"] = strings.Repeat("A", 32)
			return renderXML("xml", o)
		}(), reason.BadSignature, "sign"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ver, err := p.VerifyNotify(v2Req(c.body))
			if c.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ver != nil {
				t.Fatalf("accepted %+v", ver.Notification)
			}
			wantReason(t, err, c.code, c.body, c.detail)
		})
	}
}

func TestV2Acknowledge(t *testing.T) {
	p := newV2(t, "")
	a := p.Acknowledge(true, reason.Forwarded, 200)
	if a.Status != 200 || a.ContentType != "text/xml; charset=utf-8" ||
		string(a.Body) != `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>` {
		t.Fatalf("%+v %s", a, a.Body)
	}
	for _, c := range []struct {
		code   reason.Code
		status int
		want   int
	}{{reason.BadSignature, 401, 401}, {reason.InFlight, 0, 409}, {reason.QueryUnavailable, 503, 503}} {
		a := p.Acknowledge(false, c.code, c.status)
		f, err := ParseXML(a.Body)
		if err != nil || a.Status != c.want || f["return_code"] != "FAIL" || f["return_msg"] != string(c.code) || len(f) != 2 {
			t.Fatalf("%+v %s %v", a, a.Body, err)
		}
		if !strings.HasPrefix(string(a.Body), "<xml><return_code>") {
			t.Fatalf("return_code first: %s", a.Body)
		}
	}
	if p.Name() != "wechatpay_v2" || p.Traits().Method != http.MethodPost || !p.CanQuery() {
		t.Fatal("name/traits")
	}
}

func TestNewV2Errors(t *testing.T) {
	cases := map[string]struct {
		mut  func(*V2Config)
		want string
	}{
		"no mch_id":         {func(c *V2Config) { c.MchID = "" }, "mch_id"},
		"no app_id":         {func(c *V2Config) { c.AppID = "" }, "app_id"},
		"key with newline":  {func(c *V2Config) { c.APIKey = []byte(testV2Key + "\n") }, "got 33"},
		"unknown sign type": {func(c *V2Config) { c.SignType = "SHA1" }, "sign_type"},
		"bad endpoint":      {func(c *V2Config) { c.Endpoint = "api.mch.weixin.qq.com/pay/orderquery" }, "endpoint"},
	}
	for name, c := range cases {
		cfg := V2Config{MchID: "1", AppID: "wx", APIKey: []byte(testV2Key)}
		c.mut(&cfg)
		_, err := NewV2(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v", name, err)
		}
		assertNoSecrets(t, err.Error(), nil)
	}
	// Sign types are operator config, read case-insensitively.
	if p := newV2(t, "hmac-sha256"); p.signType != SignTypeHMACSHA256 {
		t.Fatal(p.signType)
	}
}
