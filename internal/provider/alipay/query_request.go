package alipay

import (
	"encoding/base64"
	"encoding/json"
)

// An open-platform request has a fixed set of parameters, so it is built
// by appending them in their sorted order instead of through a map, a sort
// and url.Values: the signed string is the same `k=v&...` over the sorted
// non-empty parameters (query_request_test.go holds it, and the form, to
// the former map-based builder for any input).

// requestParam is one parameter of an open-platform request.
type requestParam struct{ key, value string }

// requestParams are the request's parameters except sign, in byte order of
// their keys; dst is their storage. In certificate mode the two SNs are
// sent even when empty, as the former map did (and left out of the signed
// string, being empty).
func (p *Provider) requestParams(dst []requestParam, method string, bizContent, timestamp []byte) []requestParam {
	dst = dst[:0]
	if p.certMode {
		dst = append(dst, requestParam{"alipay_root_cert_sn", p.rootCertSN}, requestParam{"app_cert_sn", p.appCertSN})
	}
	return append(dst,
		requestParam{"app_id", p.appID},
		requestParam{"biz_content", string(bizContent)},
		requestParam{"charset", "utf-8"},
		requestParam{"format", "JSON"},
		requestParam{"method", method},
		requestParam{"sign_type", p.signType},
		requestParam{"timestamp", string(timestamp)},
		requestParam{"version", "1.0"},
	)
}

// appendRequestSignContent appends what a request's sign covers: the sorted
// non-empty parameters, `k=v&...` (sign_type included), as the SDKs sign.
func appendRequestSignContent(b []byte, params []requestParam) []byte {
	first := true
	for _, kv := range params {
		if kv.value == "" {
			continue
		}
		if !first {
			b = append(b, '&')
		}
		first = false
		b = append(b, kv.key...)
		b = append(b, '=')
		b = append(b, kv.value...)
	}
	return b
}

// appendRequestForm appends the form body: every parameter and sign
// (base64 of sig, in its sorted place after "method"), form-encoded as
// url.Values.Encode does.
func appendRequestForm(b []byte, params []requestParam, sig []byte) []byte {
	signed := false
	for i, kv := range params {
		if !signed && kv.key > "sign" {
			b = appendSign(b, i > 0, sig)
			signed = true
		}
		if i > 0 || signed {
			b = append(b, '&')
		}
		b = append(b, kv.key...) // fixed keys, nothing to escape
		b = append(b, '=')
		b = appendQueryEscape(b, kv.value)
	}
	if !signed {
		b = appendSign(b, len(params) > 0, sig)
	}
	return b
}

// appendSign appends sign=<base64 of sig>, query-escaped ('+', '/' and
// '=' become %XX), after a '&' when sep.
func appendSign(b []byte, sep bool, sig []byte) []byte {
	if sep {
		b = append(b, '&')
	}
	b = append(b, "sign="...)
	var buf [512]byte // a 4096-bit signature's base64 fits
	enc := base64.StdEncoding.AppendEncode(buf[:0], sig)
	return appendQueryEscape(b, enc)
}

const upperhex = "0123456789ABCDEF"

// appendQueryEscape appends url.QueryEscape(s).
func appendQueryEscape[S ~string | ~[]byte](b []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		b = appendQueryEscapeByte(b, s[i])
	}
	return b
}

// appendQueryEscapeByte is one byte of url.QueryEscape: letters, digits
// and "-_.~" stay, a space is '+', anything else is %XX.
func appendQueryEscapeByte(b []byte, c byte) []byte {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
		c == '-', c == '_', c == '.', c == '~':
		return append(b, c)
	case c == ' ':
		return append(b, '+')
	}
	return append(b, '%', upperhex[c>>4], upperhex[c&15])
}

// appendBizContent appends the biz_content of a request for one field,
// {"<key>":"<value>"}, exactly as encoding/json marshals a one-entry
// map[string]string: a value with nothing to escape is copied, any other
// goes through encoding/json itself (HTML-safe escapes, U+FFFD for invalid
// UTF-8, \u2028 and \u2029).
func appendBizContent(b []byte, key, value string) []byte {
	b = append(b, `{"`...)
	b = append(b, key...) // a fixed key, nothing to escape
	b = append(b, `":`...)
	if plainJSON(value) {
		b = append(b, '"')
		b = append(b, value...)
		b = append(b, '"')
	} else {
		q, _ := json.Marshal(value) // a string always marshals
		b = append(b, q...)
	}
	return append(b, '}')
}

// plainJSON reports whether encoding/json writes s between quotes as it
// is: printable ASCII without '"', '\\' and the HTML-escaped "<>&".
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
