package wechatpay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxXMLFields bounds the children of a v2 message. A payment notice has
// about thirty (more with coupon_*_n fields); a thousand is no message.
const maxXMLFields = 512

// ParseXML parses a WeChat Pay v2 message: a <xml> root whose children are
// flat elements holding text (CDATA or not, concatenated as written). It
// returns child name → value, values untrimmed, since signatures cover
// them exactly.
//
// It is deliberately narrower than XML, because every liberty is a way for
// two parsers to disagree or for a parser to be attacked:
//   - the only processing instruction is a leading <?xml ...?> declaration,
//     and it must be the first thing in the body;
//   - no DOCTYPE or other directive (XXE, billion laughs), no comments;
//   - no entity beyond the five built-ins and character references
//     (encoding/xml in Strict mode with a nil Entity map refuses any
//     other, which is relied on and tested);
//   - only UTF-8 (a declaration naming another charset fails, since no
//     CharsetReader is set);
//   - no attributes, no namespaces, no text directly in <xml>;
//   - a repeated child, a child with elements inside it, or anything but
//     whitespace after </xml> is an error.
//
// Messages as WeChat writes them are read in one pass (readFlatXML), any
// other document by encoding/xml (decodeFlatXML), which alone decides
// what is refused and with which error.
//
// It never panics. Errors say where, not what: they quote no values.
func ParseXML(b []byte) (map[string]string, error) {
	return parseFlatXML(b, "xml")
}

// xmlState is where decodeFlatXML is in the document.
type xmlState int

const (
	xmlBeforeRoot xmlState = iota
	xmlInRoot
	xmlInChild
	xmlAfterRoot
)

// parseFlatXML is ParseXML with the root element's name as a parameter:
// refund notices' req_info decrypts to a <root> document of the same shape.
//
// readFlatXML reads the documents WeChat writes in one pass; whatever it
// is not sure of (every error among them) goes to decodeFlatXML, so the
// result, error text included, is always decodeFlatXML's.
func parseFlatXML(b []byte, root string) (map[string]string, error) {
	if fields, ok := readFlatXML(b, root); ok {
		return fields, nil
	}
	return decodeFlatXML(b, root)
}

// parseNotifyXML is ParseXML for a notification, and whether its values
// are known plain (checkPlainValues would pass): true only where the
// one-pass reader read the body and found every value one text node or
// CDATA section; false means not known, not refused.
func parseNotifyXML(b []byte) (map[string]string, bool, error) {
	if fields, plain, ok := readFlatXMLPlain(b, "xml"); ok {
		return fields, plain, nil
	}
	fields, err := decodeFlatXML(b, "xml")
	return fields, false, err
}

// decodeFlatXML is the reference reader, on encoding/xml: it decides every
// document readFlatXML leaves to it, and is the oracle of
// FuzzFlatXMLMatchesOracle.
func decodeFlatXML(b []byte, root string) (map[string]string, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.Entity = nil        // only the predefined entities: see the doc comment
	d.CharsetReader = nil // only UTF-8
	fields := map[string]string{}
	state := xmlBeforeRoot
	var child string
	var val strings.Builder
	for first := true; ; first = false {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, xmlError(err)
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return nil, errors.New("XML processing instruction not allowed")
			}
		case xml.Directive:
			return nil, errors.New("XML DOCTYPE or directive not allowed")
		case xml.Comment:
			return nil, errors.New("XML comment not allowed")
		case xml.StartElement:
			if t.Name.Space != "" || len(t.Attr) > 0 {
				return nil, errors.New("XML namespaces and attributes not allowed")
			}
			switch state {
			case xmlBeforeRoot:
				if t.Name.Local != root {
					return nil, fmt.Errorf("XML root element is not <%s>", root)
				}
				state = xmlInRoot
			case xmlInRoot:
				if _, dup := fields[t.Name.Local]; dup {
					return nil, fmt.Errorf("XML element %s repeated", short(t.Name.Local))
				}
				if len(fields) >= maxXMLFields {
					return nil, errors.New("too many XML elements")
				}
				child = t.Name.Local
				val.Reset()
				state = xmlInChild
			case xmlInChild:
				return nil, fmt.Errorf("XML element nested in %s", short(child))
			default:
				return nil, fmt.Errorf("content after </%s>", root)
			}
		case xml.EndElement:
			// The decoder has matched the names already.
			switch state {
			case xmlInChild:
				fields[child] = val.String()
				state = xmlInRoot
			case xmlInRoot:
				state = xmlAfterRoot
			}
		case xml.CharData:
			if state == xmlInChild {
				val.Write(t)
			} else if !isXMLSpace(t) {
				return nil, errors.New("XML text outside the message's elements")
			}
		}
	}
	if state != xmlAfterRoot {
		return nil, errors.New("no complete XML document")
	}
	return fields, nil
}

// xmlError turns a decoder error into one without quoted input.
func xmlError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		msg := se.Msg
		if len(msg) > 80 {
			msg = msg[:80] + "…"
		}
		return fmt.Errorf("XML syntax error on line %d: %s", se.Line, msg)
	}
	return errors.New("XML not readable (non-UTF-8 encoding declared?)")
}

func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// renderXML writes fields as a flat document under root, keys sorted. A
// value goes into CDATA as WeChat writes it, unless CDATA cannot carry it
// exactly (it holds "]]>", a carriage return that parsing would turn into
// a newline, or a character XML forbids); then it is escaped text. Keys
// must be XML names: the caller (simulator, query builder) chooses them.
func renderXML(root string, fields map[string]string) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("<" + root + ">")
	for _, k := range keys {
		writeXMLElement(&b, k, fields[k])
	}
	b.WriteString("</" + root + ">")
	return b.Bytes()
}

// writeXMLElement writes <k>v</k>, v as CDATA when that is exact.
func writeXMLElement(b *bytes.Buffer, k, v string) {
	b.WriteString("<" + k + ">")
	if cdataSafe(v) {
		b.WriteString("<![CDATA[" + v + "]]>")
	} else {
		_ = xml.EscapeText(b, []byte(v)) // a bytes.Buffer never fails
	}
	b.WriteString("</" + k + ">")
}

func cdataSafe(s string) bool {
	if strings.Contains(s, "]]>") || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return false // includes '\r'
		}
	}
	return true
}
