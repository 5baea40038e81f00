package generic

import (
	"bytes"

	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/reason"
)

// maxFields bounds the fields of a form or XML message: a payment notice
// has a few dozen.
const maxFields = 512

// parseForm parses an application/x-www-form-urlencoded body with
// formbody.Parse's strict rules (every key once, values kept as the bytes
// the partner signed: no charset is applied before the signature holds),
// bounded to maxFields parameters, in wire order.
func parseForm(b []byte) ([]field, error) {
	// A valid form has one more parameter than it has '&'s: refuse an
	// oversized one before decoding it.
	if bytes.Count(b, []byte{'&'}) >= maxFields {
		return nil, reason.New(reason.Malformed, "form: more than %d parameters", maxFields)
	}
	f, err := formbody.Parse(b)
	if err != nil {
		return nil, err
	}
	fields := make([]field, 0, f.Len())
	for _, p := range f.Pairs() {
		fields = append(fields, field{key: p.Key, value: string(p.Value)})
	}
	return fields, nil
}
