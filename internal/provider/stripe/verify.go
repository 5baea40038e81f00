package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// VerifyNotify implements provider.Provider: the Stripe-Signature header is
// parsed, a v1 signature must match HMAC-SHA256 of "<t>.<raw body>" under
// one of the configured secrets, then the event is decoded strictly and
// normalized. The timestamp is returned as Verified.Timestamp for the
// pipeline's `tolerance` window (both directions); Stripe signs no nonce,
// and every retry is signed afresh with the same event id, which the
// claim deduplicates.
//
// Errors: bad_signature for a missing header, a header without v1
// entries, or no matching signature; malformed for a header that cannot be
// read (two Stripe-Signature fields, no or a bad timestamp, a pair without
// "="), and for a signed body that is not a Stripe event payguard can read.
// The HMAC is checked before the body is parsed: unauthenticated JSON is
// never decoded.
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	if req == nil {
		return nil, reason.New(reason.Malformed, "no request")
	}
	vals := req.Header.Values(HeaderSignature)
	switch len(vals) {
	case 0:
		return nil, reason.New(reason.BadSignature, "no Stripe-Signature header")
	case 1:
	default:
		return nil, reason.New(reason.Malformed, "%d Stripe-Signature headers", len(vals))
	}
	sh, rerr := parseSignatureHeader(vals[0])
	if rerr != nil {
		return nil, rerr
	}
	if !p.matches(sh, req.Body) {
		return nil, reason.New(reason.BadSignature, "no v1 signature matches a configured secret")
	}
	ev, err := strictjson.DecodeObject(req.Body)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "event")
	}
	n, err := normalize(ev)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "event")
	}
	if err := checkURLQuery(req.RawQuery, ev); err != nil {
		return nil, err
	}
	return &provider.Verified{Notification: *n, Timestamp: time.Unix(sh.timestamp, 0).UTC()}, nil
}

// matches reports whether any v1 signature of sh is the HMAC of body
// under any secret. Each secret's HMAC is computed once; every comparison
// is constant-time.
func (p *Provider) matches(sh *signedHeader, body []byte) bool {
	ok := false
	var buf [sha256.Size]byte
	for i := range p.secrets {
		want := p.signature(i, sh.timestamp, body, &buf)
		for _, sig := range sh.signatures {
			if hmac.Equal(want, sig) {
				ok = true
			}
		}
	}
	return ok
}

// checkURLQuery refuses a URL query parameter named like a top-level field
// of the event. Stripe posts to the configured URL and signs only the body;
// a shop framework that merges the query into its parameters (PHP's
// $_REQUEST, Rails' params) could otherwise read an unsigned "type" or
// "data" next to the signed one. Names are compared after the rewrites
// such frameworks apply: case folded, a "[" subscript cut, "." and " "
// read as "_".
func checkURLQuery(raw string, ev map[string]any) *reason.Error {
	if raw == "" {
		return nil
	}
	fields := map[string]bool{}
	for k := range ev {
		fields[frameworkName(k)] = true
	}
	for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(name)
		if err != nil {
			return reason.New(reason.Malformed, "URL query parameter %s is badly escaped", quote(name))
		}
		if fields[frameworkName(key)] {
			return reason.New(reason.Malformed, "URL query parameter %s shadows the signed event field of that name", quote(key))
		}
	}
	return nil
}

func frameworkName(k string) string {
	if i := strings.IndexByte(k, '['); i >= 0 {
		k = k[:i]
	}
	return strings.NewReplacer(".", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(k)))
}
