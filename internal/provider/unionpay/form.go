package unionpay

import (
	"bytes"

	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// UnionPay speaks two dialects of k=v&... parameters. The backUrl
// notification is a form POST (application/x-www-form-urlencoded: '+' and
// %XX escapes), parsed by formbody.Parse. The synchronous answer of
// queryTrans.do is the same shape with raw, unescaped values (a PEM
// certificate with its newlines and '+', JSON-like {...} values), parsed by
// parseAnswer into the same formbody.Form: every key once, lookups
// independent of the wire order.
//
// parseAnswer reads the answer as the ACP SDK's parseQString does. A value that opens a '{'
// or '[' runs to the first matching '}' or ']' whatever '&' it holds (the
// SDK's rule, one level, no nesting count: UnionPay signs the values as the
// SDK splits them). Stricter than the SDK: an empty segment or key, a
// segment without '=', an unclosed '{' or '[', and a repeated key are
// malformed (the caller reports query_unavailable).
func parseAnswer(b []byte) (*formbody.Form, error) {
	f := formbody.New(bytes.Count(b, []byte{'&'}) + 1)
	i := 0
	for i <= len(b) {
		start := i
		for i < len(b) && b[i] != '=' && b[i] != '&' {
			i++
		}
		if i == len(b) || b[i] != '=' {
			return nil, reason.New(reason.Malformed, "answer: parameter at byte %d has no '='", start)
		}
		if i == start {
			return nil, reason.New(reason.Malformed, "answer: empty key at byte %d", start)
		}
		key := string(b[start:i])
		i++
		v0 := i
		var closer byte
		for ; i < len(b); i++ {
			c := b[i]
			if closer != 0 {
				if c == closer {
					closer = 0
				}
				continue
			}
			if c == '&' {
				break
			}
			switch c {
			case '{':
				closer = '}'
			case '[':
				closer = ']'
			}
		}
		if closer != 0 {
			return nil, reason.New(reason.Malformed, "answer: parameter %s has an unclosed %q", quoteKey(key), closer)
		}
		if err := f.Add(key, b[v0:i:i]); err != nil {
			return nil, err
		}
		i++ // past '&'; past the end stops the loop
		if i == len(b) {
			return nil, reason.New(reason.Malformed, "answer: trailing '&'")
		}
	}
	return f, nil
}

// signContent is what UnionPay signs (ACP SDK coverMap2String): every
// parameter but signature, empty values included, sorted by key in byte
// order, joined as k=v&k=v.
func signContent(f *formbody.Form) []byte {
	size := 0
	for i := range f.Len() {
		k, v := f.At(i)
		size += len(k) + len(v) + 2
	}
	return f.AppendSigned(make([]byte, 0, size), fieldSignature)
}

// signContentOf is signContent for parameters the caller builds (query
// requests, the simulator's messages).
func signContentOf(params map[string]string) []byte {
	f := formbody.New(len(params))
	for k, v := range params {
		_ = f.Add(k, []byte(v)) // map keys are unique
	}
	return signContent(f)
}

// quoteKey renders an attacker-chosen key or value for an error detail:
// quoted and cut short, so a detail never carries a large part of the body.
var quoteKey = strictjson.Quote
