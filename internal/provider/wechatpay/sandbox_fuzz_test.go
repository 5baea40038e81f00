package wechatpay

import (
	"bytes"
	"testing"
)

// FuzzReplaceXMLElement: the v2 tamper helper never panics and, when it
// succeeds, keeps the bytes around the element.
func FuzzReplaceXMLElement(f *testing.F) {
	f.Add([]byte("<xml><total_fee><![CDATA[100]]></total_fee></xml>"), "total_fee", "1")
	f.Add([]byte("<xml><a></a>"), "a", "]]>")
	f.Add([]byte("<a><a></a>"), "a", "")
	f.Fuzz(func(t *testing.T, doc []byte, key, value string) {
		out, err := replaceXMLElement(doc, key, value)
		if err != nil {
			return
		}
		open := []byte("<" + key + ">")
		i := bytes.Index(doc, open)
		if !bytes.HasPrefix(out, doc[:i+len(open)]) {
			t.Fatal("prefix changed")
		}
	})
}
