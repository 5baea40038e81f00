package audit

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

const card = "4111111111111111"

func TestRedact(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		ct     string
		fields []string
		want   string
	}{
		// Forms: Alipay, UnionPay.
		{
			name: "form always-redacted fields",
			body: "gmt_create=2026-01-02+03%3A04%3A05&sign=abc%2Bdef%3D%3D&sign_type=RSA2&out_trade_no=o1",
			ct:   "application/x-www-form-urlencoded; charset=utf-8",
			want: "gmt_create=2026-01-02+03%3A04%3A05&sign=***&sign_type=RSA2&out_trade_no=o1",
		},
		{
			name:   "form configured fields, case-insensitive, escaped key",
			body:   "buyer_logon_id=a%40b.com&Signature=x&card%5Fno=" + card + "&BUYER_ID=2088",
			fields: []string{"buyer_logon_id", "buyer_id"},
			want:   "buyer_logon_id=***&Signature=***&card%5Fno=***&BUYER_ID=***",
		},
		{
			name: "form repeated key, empty value, no value",
			body: "pan=1&pan=&x&pan=" + card,
			want: "pan=***&pan=***&x&pan=***",
		},
		{
			name: "form with a JSON document in a value",
			body: "biz_content=" + url.QueryEscape(`{"card_no":"`+card+`","amount":"1.00"}`) + "&app_id=1",
			want: "biz_content=" + url.QueryEscape(`{"card_no":"***","amount":"1.00"}`) + "&app_id=1",
		},
		{
			name: "form with a base64 signature value is left byte-exact",
			body: "paySign=ab%2Bc%2F%3D%3D&x=a+b",
			want: "paySign=ab%2Bc%2F%3D%3D&x=a+b",
		},

		// JSON: Stripe, PayPal, WeChat v3, Apple.
		{
			name: "json top level and nested, layout kept",
			body: "{\n  \"id\": \"evt_1\",\n  \"signature\" : \"zzz\",\n  \"data\": {\"object\": {\"card\": {\"pan\": " + card + ", \"last4\": \"1111\"}}}\n}",
			ct:   "application/json",
			want: "{\n  \"id\": \"evt_1\",\n  \"signature\" : \"***\",\n  \"data\": {\"object\": {\"card\": {\"pan\": \"***\", \"last4\": \"1111\"}}}\n}",
		},
		{
			name:   "json whole object and array values, arrays of objects",
			body:   `[{"payer":{"email":"a@b"},"items":[{"CARD_NO":"1"},{"card_no":null}]},{"payer":[1,2]}]`,
			fields: []string{"payer"},
			want:   `[{"payer":"***","items":[{"CARD_NO":"***"},{"card_no":"***"}]},{"payer":"***"}]`,
		},
		{
			name: "json escaped key matches",
			body: `{"\u0073ign":"x","s\"ign":"keep"}`,
			want: `{"\u0073ign":"***","s\"ign":"keep"}`,
		},
		{
			name: "json duplicate keys all masked",
			body: `{"sign":"a","sign":"b"}`,
			want: `{"sign":"***","sign":"***"}`,
		},
		{
			name: "json string holding json",
			body: `{"resource":"{\"pan\":\"` + card + `\",\"a\":\"<b>\"}","n":1}`,
			want: `{"resource":"{\"pan\":\"***\",\"a\":\"<b>\"}","n":1}`,
		},
		{
			name: "json mislabelled as form is still json",
			body: `{"card_no":"` + card + `","note":"a=b"}`,
			ct:   "application/x-www-form-urlencoded",
			want: `{"card_no":"***","note":"a=b"}`,
		},
		{
			name: "json scalar",
			body: `"just a string"`,
			ct:   "application/json",
			want: `"just a string"`,
		},

		// XML: WeChat Pay v2.
		{
			name: "xml wechat v2",
			body: "<xml><appid><![CDATA[wx1]]></appid><sign><![CDATA[C380BEC2BFD727A4B6845133519F3AD6]]></sign><total_fee>1</total_fee></xml>",
			ct:   "text/xml",
			want: "<xml><appid><![CDATA[wx1]]></appid><sign>***</sign><total_fee>1</total_fee></xml>",
		},
		{
			name:   "xml nested element content, namespace, self-closing",
			body:   `<?xml version="1.0" encoding="GBK"?><r xmlns:p="urn:x"><p:Card><PAN>` + card + `</PAN></p:Card><openid a="1">o</openid><sign/></r>`,
			fields: []string{"card", "openid"},
			want:   `<?xml version="1.0" encoding="GBK"?><r xmlns:p="urn:x"><p:Card>***</p:Card><openid a="1">***</openid><sign/></r>`,
		},

		// Unparseable bodies.
		{
			name: "truncated json with a field name",
			body: `{"card_no":"` + card,
			want: Unparseable,
		},
		{
			name: "truncated json with an escaped field name",
			body: `{"\u0063ard_no":"` + card,
			want: Unparseable,
		},
		{
			name: "truncated json without field names is kept",
			body: `{"amount":1`,
			want: `{"amount":1`,
		},
		{
			name: "broken xml",
			body: `<xml><sign>abc</xml>`,
			want: Unparseable,
		},
		{
			name: "text with equals is not a form",
			body: "the card number = " + card + " (pan)",
			want: Unparseable,
		},
		{
			name: "plain text without field names",
			body: "ok",
			ct:   "text/plain",
			want: "ok",
		},
		{
			name: "byte order mark",
			body: "\ufeff{\"sign\":\"x\"}",
			want: Unparseable,
		},
		{
			name: "empty",
			body: "",
			want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact([]byte(tc.body), tc.ct, tc.fields)
			if got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.body, got, tc.want)
			}
			if strings.Contains(got, card) {
				t.Errorf("card number survived: %q", got)
			}
		})
	}
}

func TestRedactDeepNestingDoesNotPanic(t *testing.T) {
	for _, body := range []string{
		strings.Repeat("[", 100000),
		strings.Repeat(`{"a":`, 50000) + "1" + strings.Repeat("}", 50000),
		strings.Repeat("<a>", 50000) + strings.Repeat("</a>", 50000),
	} {
		got := Redact([]byte(body), "", nil)
		if got != body && got != Unparseable {
			t.Errorf("deep body of %d bytes became %.40q", len(body), got)
		}
	}
}

var fuzzFields = []string{"secret", "Token"}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"a=1&sign=2&card_no=" + card,
		`{"sign":"x","data":{"pan":"` + card + `"},"list":[{"secret":1}]}`,
		`<xml><sign><![CDATA[x]]></sign><token>t</token></xml>`,
		`{"biz":"{\"card_no\":\"1\"}"}`,
		"biz=%7B%22pan%22%3A%221%22%7D",
		`{"a":`,
		"<a><b></a>",
		"",
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "application/json")
		f.Add([]byte(s), "application/x-www-form-urlencoded")
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		got := Redact(body, ct, fuzzFields)
		names := fieldSet(fuzzFields)

		// Redacting is idempotent: a second pass finds nothing left to
		// mask and changes no byte, which also shows the first pass's
		// edits landed on value boundaries.
		if again := Redact([]byte(got), ct, fuzzFields); again != got {
			t.Fatalf("not idempotent:\n body %q\nonce  %q\ntwice %q", body, got, again)
		}
		// Edits only ever insert ASCII masks and re-encoded strings.
		if utf8.Valid(body) && !utf8.Valid([]byte(got)) {
			t.Fatalf("valid UTF-8 became invalid: %q -> %q", body, got)
		}
		// Whatever parses as JSON, XML or a form afterwards holds no
		// value under a redacted name other than the mask.
		checkJSONMasked(t, got, names)
		checkXMLMasked(t, got, names)
		checkFormMasked(t, got, names)
	})
}

func checkJSONMasked(t *testing.T, s string, names map[string]bool) {
	trimmed := strings.TrimLeft(s, " \t\r\n")
	if trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') {
		return
	}
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if names[strings.ToLower(k)] {
					if x != Mask {
						t.Fatalf("JSON key %q kept %v in %q", k, x, s)
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
}

func checkXMLMasked(t *testing.T, s string, names map[string]bool) {
	if !strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "<") {
		return
	}
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var toks []xml.Token
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return // not XML after all
		}
		toks = append(toks, xml.CopyToken(tok))
	}
	inside := 0
	for _, tok := range toks {
		switch tok := tok.(type) {
		case xml.StartElement:
			if inside > 0 {
				t.Fatalf("element <%s> inside a redacted element in %q", tok.Name.Local, s)
			}
			if names[strings.ToLower(tok.Name.Local)] {
				inside++
			}
		case xml.EndElement:
			if inside > 0 {
				inside--
			}
		case xml.CharData:
			if inside > 0 && string(tok) != Mask {
				t.Fatalf("redacted element holds %q in %q", tok, s)
			}
		case xml.Comment, xml.ProcInst, xml.Directive:
			if inside > 0 {
				t.Fatalf("redacted element holds %T in %q", tok, s)
			}
		}
	}
}

func checkFormMasked(t *testing.T, s string, names map[string]bool) {
	trimmed := strings.TrimLeft(s, " \t\r\n")
	if trimmed == "" || strings.ContainsAny(trimmed[:1], "{[<") || !strings.Contains(s, "=") {
		return
	}
	for _, pair := range strings.Split(s, "&") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || !isFormKey(k) {
			continue
		}
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if names[strings.ToLower(k)] && v != Mask {
			t.Fatalf("form key %q kept %q in %q", k, v, s)
		}
	}
}

func TestRedactKeepsUnmaskedBytes(t *testing.T) {
	// Providers' odd but valid layouts survive untouched apart from the
	// masked values: the audit record is evidence of what was received.
	body := []byte("{ \"a\" : 1.50e3 ,\"b\":[true ,null],\t\"sign\":\"x\" }\n")
	want := "{ \"a\" : 1.50e3 ,\"b\":[true ,null],\t\"sign\":\"***\" }\n"
	if got := Redact(body, "application/json", nil); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !bytes.Equal(body, []byte("{ \"a\" : 1.50e3 ,\"b\":[true ,null],\t\"sign\":\"x\" }\n")) {
		t.Fatal("Redact modified its input")
	}
}

// FuzzNestedShortcut: a value cannotHoldNames lets through unparsed is one
// the parse would have left unchanged too.
func FuzzNestedShortcut(f *testing.F) {
	for _, s := range []string{
		`[{"amount":"12.34","fundChannel":"ALIPAYACCOUNT"}]`, `{"card_no":"1"}`, "a=1&pan=2",
		`{"x":"{\"CARD_NO\":1}"}`, "<xml><Sign>1</Sign></xml>", "<a>b", `{"a":`, "b=%70an",
	} {
		f.Add(s)
	}
	names := fieldSet(fuzzFields)
	f.Fuzz(func(t *testing.T, v string) {
		if !cannotHoldNames(v, names) {
			return
		}
		if red, changed := redactParsed(v, strings.TrimLeft(v, " \t\r\n"), names, 0); changed {
			t.Fatalf("%q let through unparsed, but parsing masks it to %q", v, red)
		}
	})
}

// TestNestedShortcutKeepsMasking: values that hold a name, or could spell
// one with an escape, are still parsed and masked.
func TestNestedShortcutKeepsMasking(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`fund_bill_list=[{"amount":"1","fundChannel":"A"}]&x=1`, `fund_bill_list=[{"amount":"1","fundChannel":"A"}]&x=1`},
		{`biz=[{"Card_No":"` + card + `"}]`, "biz=" + url.QueryEscape(`[{"Card_No":"***"}]`)},
		{`biz={"c\u0061rd_no":"` + card + `"}`, "biz=" + url.QueryEscape(`{"c\u0061rd_no":"***"}`)},
		{`biz=` + url.QueryEscape(`x=1&%63ard_no=`+card), "biz=" + url.QueryEscape(`x=1&%63ard_no=***`)},
	} {
		if got := Redact([]byte(c.body), "application/x-www-form-urlencoded", nil); got != c.want {
			t.Errorf("%s: got %s, want %s", c.body, got, c.want)
		}
	}
}

// FuzzAppendUnescaped: the form masking's decoder agrees with
// url.QueryUnescape on every input, failures included.
func FuzzAppendUnescaped(f *testing.F) {
	for _, s := range []string{"a+b", "%41%4a%4A", "%", "%4", "%g1", "100%25", "x%2", "%e4%b8%ad"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, err := url.QueryUnescape(raw)
		got, ok := appendUnescaped([]byte("prefix"), []byte(raw))
		if ok != (err == nil) {
			t.Fatalf("%q: appendUnescaped ok %v, QueryUnescape error %v", raw, ok, err)
		}
		if ok && string(got) != "prefix"+want {
			t.Fatalf("%q: appendUnescaped %q, QueryUnescape %q", raw, got[len("prefix"):], want)
		}
	})
}

// FuzzMediaKind: mediaKind parses only a Content-Type with parameters, and
// agrees with the parse of every one.
func FuzzMediaKind(f *testing.F) {
	for _, s := range []string{"application/x-www-form-urlencoded", " Application/JSON ", "application/json; charset=utf-8",
		"text/xml;", "application/vnd.api+json", "bad type", "application/x-www-form-urlencoded;;", "\xffapplication/json", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			mt = strings.ToLower(strings.TrimSpace(ct))
		}
		want := kindOther
		switch {
		case mt == "application/x-www-form-urlencoded":
			want = kindForm
		case strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json"):
			want = kindJSON
		}
		if got := mediaKind(ct); got != want {
			t.Fatalf("%q: mediaKind %d, the parse says %d", ct, got, want)
		}
	})
}

// TestRedactorReused: one Redactor, its names read once, masks body after
// body, in any order of formats, the configured names (case and spaces as
// written) beside AlwaysRedacted.
func TestRedactorReused(t *testing.T) {
	r := NewRedactor([]string{"Buyer_Logon_ID", " secret "})
	for i := 0; i < 2; i++ {
		for _, c := range []struct{ body, ct, want string }{
			{"buyer_logon_id=a%40b&sign=xyz&card_no=" + card + "&x=1", "application/x-www-form-urlencoded", "buyer_logon_id=***&sign=***&card_no=***&x=1"},
			{`{"SECRET":"s","data":{"object":{"pan":"` + card + `","id":"evt"}}}`, "application/json; charset=utf-8", `{"SECRET":"***","data":{"object":{"pan":"***","id":"evt"}}}`},
			{"<xml><sign>1</sign><secret>2</secret><a>3</a></xml>", "text/xml", "<xml><sign>***</sign><secret>***</secret><a>3</a></xml>"},
			{"not a document", "text/plain", "not a document"},
		} {
			if got := r.Redact([]byte(c.body), c.ct); got != c.want {
				t.Errorf("%s: %q, want %q", c.body, got, c.want)
			}
		}
	}
}

// FuzzContainsFoldASCII holds the byte-generic containsFoldASCII, which
// lets a form value be looked at without copying it into a string, to its
// former implementation: strings.EqualFold at every offset of an ASCII s.
func FuzzContainsFoldASCII(f *testing.F) {
	for _, c := range [][2]string{{"xCARD_NOx", "card_no"}, {"PAN", "pan"}, {"sig", "sign"}, {"k", "\u212a"}, {"ss", "\u017f"}, {"[{", "[{"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, s, name string) {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return // cannotHoldNames asks only about ASCII values
			}
		}
		want := false
		for i := 0; i+len(name) <= len(s); i++ {
			if strings.EqualFold(s[i:i+len(name)], name) {
				want = true
				break
			}
		}
		if got := containsFoldASCII(s, name); got != want {
			t.Fatalf("containsFoldASCII(%q, %q) = %v, strings.EqualFold says %v", s, name, got, want)
		}
		if got := containsFoldASCII([]byte(s), name); got != want {
			t.Fatalf("containsFoldASCII([]byte(%q), %q) = %v, strings.EqualFold says %v", s, name, got, want)
		}
	})
}
