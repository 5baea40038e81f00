package wechatpay

import (
	"reflect"
	"strings"
	"testing"
)

// flatXMLSeeds are the bodies FuzzFlatXMLMatchesOracle starts from: every
// v2 message the tests sign (notices, refund notices and their req_info,
// query answers, the vectors' parameters), each also with a declaration,
// CRLF layout and split CDATA, then hostile documents.
func flatXMLSeeds(t testing.TB) [][]byte {
	md5 := &V2Signer{APIKey: []byte(testV2Key)}
	hmac := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeHMACSHA256}
	var genuine [][]byte
	for _, s := range []*V2Signer{md5, hmac} {
		genuine = append(genuine, s.SignNotify(samplePayment()), s.SignRefundNotify(sampleRefundOuter(), sampleRefundInfo()),
			s.SignResponse(v2QueryAnswer("1409811653")))
	}
	genuine = append(genuine, renderXML("root", sampleRefundInfo()),
		renderXML("xml", map[string]string{"a": "x]]>y", "b": "line\r\nbreak", "c": "tab\there", "d": "<&>", "e": "", "f": "普通"}))
	for _, c := range loadVectors(t, "wechatpay_v2.json") {
		m := map[string]string{}
		for k, v := range c["params"].(map[string]any) {
			m[k] = v.(string)
		}
		for _, k := range []string{"expected_sign", "sign"} {
			if v, ok := c[k].(string); ok {
				m["sign"] = v
			}
		}
		genuine = append(genuine, renderXML("xml", m))
	}
	var seeds [][]byte
	for _, g := range genuine {
		s := string(g)
		seeds = append(seeds, g,
			[]byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+s+"\n"),
			[]byte(strings.ReplaceAll(strings.ReplaceAll(s, "><", ">\r\n  <"), "]]>\r\n  <", "]]><")),
			[]byte(strings.Replace(s, "]]></", "]]><![CDATA[1]]></", 1)),
			[]byte(strings.Replace(s, "<![CDATA[", "<![CDATA[\r", 1)),
			[]byte(strings.Replace(s, "<![CDATA[", "&#49;<![CDATA[", 1)),
			[]byte(strings.Replace(s, "></", " ></", 1)),
			[]byte(s[:len(s)/2]))
	}
	for _, h := range hostileFlatXML {
		seeds = append(seeds, []byte(h))
	}
	return seeds
}

var hostileFlatXML = []string{
	`<xml><a><![CDATA[x<y]]></a><b>1</b></xml>`,
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <a>1</a>\n</xml>\n",
	`<xml><a>x<![CDATA[y]]>&amp;&#x41;</a></xml>`, `<xml><a/><b></b></xml>`, `<xml/>`, `<xml><a> 1 </a></xml>`,
	`<xml><a>&lt;&gt;&quot;&apos;</a></xml>`, "<?xml version=\"1.0\"?>\r\n<xml><a>1</a></xml>",
	`<?xml version='1.0'?><xml/>`, `<?xml version="1.1"?><xml></xml>`, `<?xml version="1.0" encoding="utf-8"?><xml></xml>`,
	`<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`, `<?xml version="1.0"?><?xml version="1.0"?><xml></xml>`,
	` <?xml version="1.0"?><xml><a>1</a></xml>`, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><a>&a;</a></xml>`,
	`<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`,
	`<!DOCTYPE xml><xml><a>1</a></xml>`, `<xml><a>&lol;</a></xml>`, `<xml><a>&nbsp;</a></xml>`, `<xml><a>&#0;</a></xml>`,
	`<xml><a>1</a><a>2</a></xml>`, `<xml><a><b>1</b></a></xml>`, `<xml><a>1</a></xml>garbage`, `<xml><a>1</a></xml><xml></xml>`,
	`<xml><a>1</a></xml><!-- x -->`, `<xml><a>1</a></xml><?xml version="1.0"?>`, `<root><a>1</a></root>`,
	`<xml><?php echo 1; ?><a>1</a></xml>`, `<xml><a>1<!-- x -->2</a></xml>`, `<xml><a x="1">1</a></xml>`,
	`<xml xmlns="urn:x"><a>1</a></xml>`, `<xml><p:a>1</p:a></xml>`, `<xml><xmlns>1</xmlns><xml>2</xml></xml>`,
	`<xml>hello<a>1</a></xml>`, `<xml><a>1</a>`, `<xml><a>1</b></xml>`, ``, " \n", "<xml><a>\x00</a></xml>",
	"\ufeff<xml><a>1</a></xml>", `{"a":1}`, `<xml><![CDATA[x]]><a>1</a></xml>`, `<xml><a>x]]>y</a></xml>`,
	`<xml><a><![CDATA[x]]]></a></xml>`, `<xml><a><![CDATA[x]]>]]></a></xml>`, `<xml><a>]]<![CDATA[>]]></a></xml>`,
	`<xml><a><![CDATA[x</a></xml>`, `<xml><a>x`, `<xml><a >1</a ></xml >`, `<xml ><a>1</a></xml>`,
	`<xml><a.b-c_d>1</a.b-c_d><_x>2</_x><x9>3</x9></xml>`, `<xml><9a>1</9a></xml>`, `<xml><-a>1</-a></xml>`,
	`<xml><é>1</é></xml>`, "<xml><a>\xff</a></xml>", "<xml><a>\xed\xa0\x80</a></xml>", "<xml><a>\uFFFE</a></xml>",
	"<xml><a>\uFFFD\U0010FFFF\x7f</a></xml>", "<xml><a><![CDATA[\x01]]></a></xml>", "<xml><a>\x0c</a></xml>",
	"<xml>\x0c<a>1</a></xml>", "<xml><a>1</a></xml>\x00", "<xml><a>1</a></xml>\r\n\t ", "<xml><a>1\r</a></xml>",
	"<xml><a><![CDATA[]]></a><b><![CDATA[]]><![CDATA[]]></b></xml>", "<xml><a><![CDATA[x]]><![CDATA[]]>y</a></xml>",
	"<xml><a>1</a></xml></xml>", "<xml></xml><a>1</a>", "<xml><a></a>x</xml>",
	"<xml>" + manyElements(maxXMLFields) + "</xml>", "<xml>" + manyElements(maxXMLFields+1) + "</xml>",
}

// FuzzFlatXMLMatchesOracle holds readFlatXML to decodeFlatXML (encoding/xml):
// whatever the fast reader accepts, the oracle accepts with the same
// fields, and parseFlatXML's answer, error text included, is the oracle's.
// What it calls plain passes checkPlainValues, which forward original
// then skips.
func FuzzFlatXMLMatchesOracle(f *testing.F) {
	for _, s := range flatXMLSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, root := range []string{"xml", "root"} {
			want, werr := decodeFlatXML(b, root)
			if fast, ok := readFlatXML(b, root); ok && (werr != nil || !reflect.DeepEqual(fast, want)) {
				t.Fatalf("<%s> %q: fast %q, oracle %q %v", root, b, fast, want, werr)
			}
			if _, plain, ok := readFlatXMLPlain(b, root); ok && plain {
				if err := checkPlainValues(b); err != nil {
					t.Fatalf("<%s> %q: plain to the fast reader, checkPlainValues: %v", root, b, err)
				}
			}
			got, gerr := parseFlatXML(b, root)
			if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() || !reflect.DeepEqual(got, want) {
				t.Fatalf("<%s> %q: %q %v, oracle %q %v", root, b, got, gerr, want, werr)
			}
		}
	})
}

// TestReadFlatXMLReadsWeChatMessages: the fast reader must itself take what
// WeChat writes (else every message would silently pay for encoding/xml),
// and leave the rest to the oracle.
func TestReadFlatXMLReadsWeChatMessages(t *testing.T) {
	s := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeHMACSHA256}
	notice := string(s.SignNotify(samplePayment()))
	for name, c := range map[string]struct {
		body, root string
		fast       bool
	}{
		"payment notice":        {notice, "xml", true},
		"declared, indented":    {`<?xml version="1.0" encoding="UTF-8"?>` + "\r\n" + strings.ReplaceAll(notice, "><", ">\n <") + "\n", "xml", true},
		"refund notice":         {string(s.SignRefundNotify(sampleRefundOuter(), sampleRefundInfo())), "xml", true},
		"req_info plaintext":    {string(renderXML("root", sampleRefundInfo())), "root", true},
		"query answer":          {string(s.SignResponse(v2QueryAnswer("1"))), "xml", true},
		"acknowledgement":       {v2AckSuccess, "xml", true},
		"split CDATA":           {`<xml><a><![CDATA[1]]><![CDATA[00]]>x</a><b></b></xml>`, "xml", true},
		"character reference":   {`<xml><a>&#49;</a></xml>`, "xml", false},
		"carriage return":       {"<xml><a>1\r</a></xml>", "xml", false},
		"self-closing":          {`<xml><a/></xml>`, "xml", false},
		"other declaration":     {`<?xml version='1.0'?><xml></xml>`, "xml", false},
		"repeated (an error)":   {`<xml><a>1</a><a>1</a></xml>`, "xml", false},
		"wrong root (an error)": {notice, "root", false},
	} {
		want, err := decodeFlatXML([]byte(c.body), c.root)
		got, ok := readFlatXML([]byte(c.body), c.root)
		if ok != c.fast || ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Errorf("%s: fast %v %q, oracle %q %v", name, ok, got, want, err)
		}
	}
}

// TestFastReaderKnowsPlainValues: WeChat's own messages are known plain
// (forward original skips the second walk over them), and a body the
// check would refuse never is.
func TestFastReaderKnowsPlainValues(t *testing.T) {
	s := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeHMACSHA256}
	for name, c := range map[string]struct {
		body  string
		plain bool
	}{
		"payment notice": {string(s.SignNotify(samplePayment())), true},
		"refund notice":  {string(s.SignRefundNotify(sampleRefundOuter(), sampleRefundInfo())), true},
		"text values":    {`<xml><a>1</a><b> two words </b></xml>`, true},
		"split CDATA":    {`<xml><a><![CDATA[1]]><![CDATA[00]]></a></xml>`, false},
		"text and CDATA": {`<xml><a> <![CDATA[1]]></a></xml>`, false},
		"empty element":  {`<xml><a>1</a><b></b></xml>`, false},
		"empty CDATA":    {`<xml><a><![CDATA[]]></a></xml>`, false},
		"no children":    {`<xml></xml>`, true},
	} {
		_, plain, ok := readFlatXMLPlain([]byte(c.body), "xml")
		if !ok || plain != c.plain {
			t.Errorf("%s: read %v, plain %v, want %v", name, ok, plain, c.plain)
		}
		if err := checkPlainValues([]byte(c.body)); (err == nil) != c.plain {
			t.Errorf("%s: checkPlainValues %v, but plain is %v", name, err, c.plain)
		}
	}
}
