package pipeline

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/payguard/payguard/internal/reason"
)

// StripSenderHeaders removes what the sender may use to speak beside
// payguard's verdict (DESIGN.md section 2 step 1): every Payguard-*
// header, every header the Connection header names and Connection itself
// (else reverse_proxy, which drops the headers Connection names as
// hop-by-hop, would delete payguard's own headers after they were set),
// and the Trailer declaration (the trailers themselves never leave with
// the forwarded request: the Forwarder sends Outgoing only).
func StripSenderHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	h.Del("Connection")
	h.Del("Trailer")
	StripPayguardHeaders(h)
}

// checkQueryShadowing refuses a URL query parameter whose name a common
// framework would read as one of the notification's signed fields: PHP
// reads "total.amount", "total amount" and "total[amount" as
// "total_amount", and "amount[total]" as the array "amount"; names are
// compared without case. The query is not signed, so such a parameter
// would let an unsigned value shadow a signed one at the shop. signed
// holds the provider's fields (Notification.Raw), at any depth.
func checkQueryShadowing(rawQuery string, signed map[string]any) error {
	if rawQuery == "" || len(signed) == 0 {
		return nil
	}
	names := map[string]bool{}
	collectFieldNames(signed, names, 0)
	for _, pair := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return reason.New(reason.Malformed, "URL query parameter name is not URL-encoded")
		}
		for _, candidate := range frameworkNames(key) {
			if names[candidate] {
				return reason.New(reason.Malformed, "URL query parameter %.40q shadows the signed field %s", key, candidate)
			}
		}
	}
	return nil
}

// maxFieldDepth bounds the walk over a provider's (already verified) fields.
const maxFieldDepth = 8

func collectFieldNames(m map[string]any, names map[string]bool, depth int) {
	if depth > maxFieldDepth {
		return
	}
	for k, v := range m {
		names[normalizeFieldName(k)] = true
		switch x := v.(type) {
		case map[string]any:
			collectFieldNames(x, names, depth+1)
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					collectFieldNames(em, names, depth+1)
				}
			}
		}
	}
}

// frameworkNames are the names a query key may be read as.
func frameworkNames(key string) []string {
	out := []string{normalizeFieldName(key)}
	if before, _, ok := strings.Cut(key, "["); ok && before != "" {
		out = append(out, normalizeFieldName(before))
	}
	return out
}

// normalizeFieldName folds case and reads '.', ' ' and '[' as '_'.
func normalizeFieldName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', ' ', '[':
			return '_'
		}
		return r
	}, strings.ToLower(s))
}
