package stripe

import (
	"encoding/hex"
	"strings"

	"github.com/payguard/payguard/internal/reason"
)

// Limits of a Stripe-Signature value. Stripe sends one timestamp and one
// v1 entry per live secret (two while a secret is rolled), plus a v0 entry
// in test mode: a few hundred bytes. The limits only bound the work an
// unauthenticated header can cause.
const (
	maxHeaderLen  = 4096
	maxSignatures = 16
	// maxTimestampDigits keeps a Unix time in int64 (and past year 5000).
	maxTimestampDigits = 12
)

// signedHeader is a parsed Stripe-Signature value.
type signedHeader struct {
	timestamp  int64
	signatures [][]byte // the v1 entries, decoded
}

// parseSignatureHeader parses "t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]".
//
// As in stripe-go: pairs split on "," then "="; a pair that is not exactly
// key=value makes the whole header invalid; v0 and unknown schemes are
// ignored; a v1 value that is not a SHA-256 hex digest is skipped (it
// could never match). Stricter than stripe-go: the timestamp must appear
// exactly once as plain digits without a sign or leading zero (the signed
// string is "<t>.<body>", so two spellings of one number must not exist);
// a header without any usable v1 entry is refused before any HMAC is
// computed.
//
// Errors: malformed for a header that cannot be read; bad_signature for
// one that carries no v1 signature (only v0, only unknown schemes, or an
// empty value).
func parseSignatureHeader(v string) (*signedHeader, *reason.Error) {
	if strings.TrimSpace(v) == "" {
		return nil, reason.New(reason.BadSignature, "Stripe-Signature is empty")
	}
	if len(v) > maxHeaderLen {
		return nil, reason.New(reason.Malformed, "Stripe-Signature is longer than %d bytes", maxHeaderLen)
	}
	sh := &signedHeader{}
	seenT := false
	entries := 0
	for _, pair := range strings.Split(v, ",") {
		pair = strings.Trim(pair, " \t")
		key, val, ok := strings.Cut(pair, "=")
		if !ok || key == "" || strings.Contains(val, "=") {
			return nil, reason.New(reason.Malformed, "Stripe-Signature entry %s is not key=value", quote(pair))
		}
		switch key {
		case "t":
			if seenT {
				return nil, reason.New(reason.Malformed, "Stripe-Signature has two timestamps")
			}
			t, ok := parseTimestamp(val)
			if !ok {
				return nil, reason.New(reason.Malformed, "Stripe-Signature timestamp %s is not a Unix time", quote(val))
			}
			sh.timestamp, seenT = t, true
		case "v1":
			if entries++; entries > maxSignatures {
				return nil, reason.New(reason.Malformed, "Stripe-Signature has more than %d v1 entries", maxSignatures)
			}
			if len(val) != 2*32 {
				continue
			}
			sig, err := hex.DecodeString(val)
			if err != nil {
				continue
			}
			sh.signatures = append(sh.signatures, sig)
		default:
			// v0 (test mode's legacy scheme) and schemes Stripe may add:
			// never used, never an error.
		}
	}
	if !seenT {
		return nil, reason.New(reason.Malformed, "Stripe-Signature has no timestamp")
	}
	if len(sh.signatures) == 0 {
		return nil, reason.New(reason.BadSignature, "Stripe-Signature has no v1 signature (v0 and unknown schemes are never accepted)")
	}
	return sh, nil
}

// parseTimestamp reads a canonical non-negative decimal: digits only, no
// sign, no leading zero.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampDigits || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var t int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		t = t*10 + int64(c-'0')
	}
	return t, true
}
