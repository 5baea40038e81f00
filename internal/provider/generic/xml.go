package generic

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// parseXML parses a flat XML message: one root element (any name) whose
// children are elements holding text, as WeChat Pay v2 and the partners
// that copied it write them. It returns the children in document order,
// values untrimmed (signatures cover them exactly), and the root's name.
//
// It is narrower than XML on purpose, as the wechatpay package's parser
// is: every liberty is a way for two parsers to disagree or for a parser
// to be attacked:
//   - no DOCTYPE or other directive (external entities, billion laughs),
//     no comments, and no processing instruction but a leading <?xml?>;
//   - no entity beyond the five predefined ones and character references
//     (Strict mode with a nil Entity map refuses any other);
//   - UTF-8 only (no CharsetReader: a declaration naming another charset
//     fails);
//   - no attributes, no namespaces, no text directly in the root, no
//     element inside a child, no repeated child, nothing after the root.
func parseXML(b []byte) ([]field, string, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.Entity = nil
	d.CharsetReader = nil
	var (
		fields []field
		seen   = map[string]bool{}
		root   string
		child  string
		val    strings.Builder
		depth  int
		done   bool
	)
	for first := true; ; first = false {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", xmlError(err)
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return nil, "", malformedXML("processing instruction not allowed")
			}
		case xml.Directive:
			return nil, "", malformedXML("DOCTYPE or directive not allowed")
		case xml.Comment:
			return nil, "", malformedXML("comment not allowed")
		case xml.StartElement:
			if t.Name.Space != "" || len(t.Attr) > 0 {
				return nil, "", malformedXML("namespaces and attributes not allowed")
			}
			switch {
			case done:
				return nil, "", malformedXML("content after the root element")
			case depth == 0:
				root = t.Name.Local
			case depth == 1:
				child = t.Name.Local
				if seen[child] {
					return nil, "", reason.New(reason.Malformed, "xml: element %s repeated", strictjson.Quote(child))
				}
				if len(fields) >= maxFields {
					return nil, "", malformedXML("too many elements")
				}
				seen[child] = true
				val.Reset()
			default:
				return nil, "", reason.New(reason.Malformed, "xml: element nested in %s", strictjson.Quote(child))
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 1 {
				fields = append(fields, field{key: child, value: val.String()})
			} else if depth == 0 {
				done = true
			}
		case xml.CharData:
			if depth == 2 {
				val.Write(t)
			} else if !isXMLSpace(t) {
				return nil, "", malformedXML("text outside the message's elements")
			}
		}
	}
	if !done {
		return nil, "", malformedXML("no complete document")
	}
	return fields, root, nil
}

func malformedXML(msg string) error { return reason.New(reason.Malformed, "xml: %s", msg) }

// xmlError rewrites a decoder error without the input it may quote.
func xmlError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		msg := se.Msg
		if len(msg) > 80 {
			msg = msg[:80] + "..."
		}
		return reason.New(reason.Malformed, "xml: syntax error on line %d: %s", se.Line, msg)
	}
	return malformedXML("not readable (a non-UTF-8 encoding declared?)")
}

func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
