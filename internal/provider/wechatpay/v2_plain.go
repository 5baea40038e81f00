package wechatpay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// checkPlainValues holds a v2 message that reaches the shop byte for byte
// (forward original) to values every XML parser reads alike. v2 signs the
// parsed values, not the bytes, so "<total_fee><![CDATA[1]]><![CDATA[00]]>
// </total_fee>", "&#49;00" or an added empty element verify as WeChat's
// message while a shop's naive parser reads other values. Each child of
// <xml> must hold exactly one text node without references, or exactly
// one CDATA section, and no carriage return (XML turns it into a
// newline). b must already have passed ParseXML.
func checkPlainValues(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	depth := 0
	var start int64
	var name string
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				start, name = d.InputOffset(), t.Name.Local
			}
		case xml.EndElement:
			if depth == 2 {
				if err := plainValue(b[start:before]); err != nil {
					return fmt.Errorf("XML element %s: %w", short(name), err)
				}
			}
			depth--
		}
	}
}

var (
	cdataOpen  = []byte("<![CDATA[")
	cdataClose = []byte("]]>")
)

// plainValue checks one element's raw content.
func plainValue(raw []byte) error {
	switch {
	case len(raw) == 0:
		return errors.New("is empty (v2 does not sign empty values)")
	case bytes.IndexByte(raw, '\r') >= 0:
		return errors.New("holds a carriage return")
	case bytes.HasPrefix(raw, cdataOpen):
		inner, ok := bytes.CutSuffix(raw[len(cdataOpen):], cdataClose)
		if !ok || bytes.Contains(inner, cdataClose) {
			return errors.New("is not exactly one CDATA section")
		}
		if len(inner) == 0 {
			return errors.New("is empty (v2 does not sign empty values)")
		}
	case bytes.IndexByte(raw, '&') >= 0:
		return errors.New("holds a character or entity reference")
	case bytes.IndexByte(raw, '<') >= 0:
		return errors.New("mixes text and CDATA")
	}
	return nil
}

// apiAnswerFields occur in signed answers of WeChat's APIs, never in a
// notification: orderquery (trade_state), unifiedorder (prepay_id,
// code_url, mweb_url), refund (refund_id, out_refund_no outside req_info),
// reverse (recall). A signed answer posted to the notify route is not a
// notification, however well it verifies.
var apiAnswerFields = []string{"trade_state", "trade_state_desc", "prepay_id", "code_url", "mweb_url", "refund_id", "out_refund_no", "recall"}

// checkNotificationKind refuses a signed v2 message that is an API answer.
func checkNotificationKind(fields map[string]string) error {
	for _, k := range apiAnswerFields {
		if _, ok := fields[k]; ok {
			return fmt.Errorf("%s: a signed API answer, not a notification", k)
		}
	}
	return nil
}
