package generic

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

func TestParseForm(t *testing.T) {
	fields, err := parseForm([]byte("b=2&a=x+y%2B%3D&c=&d=%E4%B8%AD;e"))
	if err != nil {
		t.Fatal(err)
	}
	want := []field{{key: "b", value: "2"}, {key: "a", value: "x y+="}, {key: "c"}, {key: "d", value: "中;e"}}
	if len(fields) != len(want) {
		t.Fatalf("%+v", fields)
	}
	for i := range want {
		if fields[i] != want[i] {
			t.Errorf("field %d: %+v, want %+v", i, fields[i], want[i])
		}
	}
	if f, err := parseForm(nil); err != nil || len(f) != 0 {
		t.Errorf("empty body: %v %v", f, err)
	}
	for _, in := range []string{"a=1&a=2", "a=1&%61=2", "a=1&&b=2", "a=1&", "&a=1", "a", "=1", "a=%zz", "a=%4", "a=1&b"} {
		if _, err := parseForm([]byte(in)); reason.CodeOf(err, "") != reason.Malformed {
			t.Errorf("%q: %v, want malformed", in, err)
		}
	}
	distinct := func(n int) []byte {
		pairs := make([]string, n)
		for i := range pairs {
			pairs[i] = fmt.Sprintf("k%d=v", i)
		}
		return []byte(strings.Join(pairs, "&"))
	}
	if fields, err := parseForm(distinct(maxFields)); err != nil || len(fields) != maxFields {
		t.Errorf("%d fields: %d, %v", maxFields, len(fields), err)
	}
	if _, err := parseForm(distinct(maxFields + 1)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("%d fields: %v, want refused as more than %d", maxFields+1, err, maxFields)
	}
}

func TestParseXML(t *testing.T) {
	fields, root, err := parseXML([]byte("<?xml version=\"1.0\"?>\n<notify><b><![CDATA[x<y]]></b><a>1 &amp; 2</a><c></c></notify>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if root != "notify" || len(fields) != 3 || fields[0] != (field{key: "b", value: "x<y"}) ||
		fields[1] != (field{key: "a", value: "1 & 2"}) || fields[2] != (field{key: "c"}) {
		t.Fatalf("%s %+v", root, fields)
	}
	for name, in := range map[string]string{
		"doctype":         `<!DOCTYPE x [<!ENTITY e "boom">]><xml><a>&e;</a></xml>`,
		"external entity": `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>`,
		"unknown entity":  `<xml><a>&e;</a></xml>`,
		"comment":         `<xml><!-- x --><a>1</a></xml>`,
		"late decl":       `<xml><?xml version="1.0"?><a>1</a></xml>`,
		"other pi":        `<?php x?><xml><a>1</a></xml>`,
		"repeated":        `<xml><a>1</a><a>2</a></xml>`,
		"nested":          `<xml><a><b>1</b></a></xml>`,
		"attribute":       `<xml><a x="1">1</a></xml>`,
		"namespace":       `<xml xmlns="urn:x"><a>1</a></xml>`,
		"text in root":    `<xml>x<a>1</a></xml>`,
		"second root":     `<xml><a>1</a></xml><xml></xml>`,
		"after root":      `<xml><a>1</a></xml>x`,
		"unclosed":        `<xml><a>1</a>`,
		"gbk":             `<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`,
		"empty":           ``,
		"mismatched":      `<xml><a>1</b></xml>`,
	} {
		if _, _, err := parseXML([]byte(in)); reason.CodeOf(err, "") != reason.Malformed {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
}

func TestParseJSONFields(t *testing.T) {
	fields, obj, err := parseJSON([]byte(`{"s":"x","n":1.50,"t":true,"f":false,"z":null,"o":{"a":1},"l":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]field{}
	for _, f := range fields {
		got[f.key] = f
	}
	if got["s"].value != "x" || got["n"].value != "1.50" || got["t"].value != "true" || got["f"].value != "false" ||
		got["z"].value != "" || !got["o"].nested || !got["l"].nested || got["s"].nested {
		t.Errorf("%+v", got)
	}
	if obj["n"] != json.Number("1.50") {
		t.Errorf("parsed %v", obj["n"])
	}
	for _, in := range []string{`{"a":1,"a":1}`, `[1]`, `"x"`, `{"a":{"b":1,"b":2}}`, "{\"a\":\"\xff\"}", `{"a":1}x`} {
		if _, _, err := parseJSON([]byte(in)); reason.CodeOf(err, "") != reason.Malformed {
			t.Errorf("%q: %v, want malformed", in, err)
		}
	}
}

func TestDecodeSignature(t *testing.T) {
	hexScheme := &Scheme{Encoding: "hex"}
	lower, err1 := hexScheme.decodeSignature("9a0a8659f005d6984697e2ca0a9cf3b7")
	upper, err2 := hexScheme.decodeSignature("9A0A8659F005D6984697E2CA0A9CF3B7")
	if err1 != nil || err2 != nil || string(lower) != string(upper) || len(lower) != 16 {
		t.Fatalf("hex case: %x %x %v %v", lower, upper, err1, err2)
	}
	b64 := &Scheme{Encoding: "base64"}
	if b, err := b64.decodeSignature("AQID"); err != nil || string(b) != "\x01\x02\x03" {
		t.Fatalf("base64: %x %v", b, err)
	}
	for _, c := range []struct {
		s  *Scheme
		in string
	}{{hexScheme, "9a0"}, {hexScheme, "zz"}, {hexScheme, ""}, {hexScheme, " 9a"}, {b64, "AQI"}, {b64, "AQ-_"},
		{b64, "AQJ="}, {b64, ""}, {b64, "AQID\n"}} {
		if _, err := c.s.decodeSignature(c.in); reason.CodeOf(err, "") != reason.BadSignature {
			t.Errorf("%s %q: %v, want bad_signature", c.s.Encoding, c.in, err)
		}
	}
}
