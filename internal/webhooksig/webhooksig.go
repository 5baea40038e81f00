// Package webhooksig is the Standard Webhooks signature scheme
// (https://www.standardwebhooks.com, spec/standard-webhooks.md): the
// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, v1
// (HMAC-SHA256 with a shared `whsec_` secret) and v1a (Ed25519 with a
// `whpk_`/`whsk_` key pair), both over `id.timestamp.body`.
//
// It is the one implementation payguard has: the stdwebhooks provider
// verifies with it, and the pipeline signs what it forwards with it
// (`upstream_secret`). Pure functions over bytes, no Caddy, modelled on
// stripe-go's webhook package: sentinel errors that map one to one to
// reason codes, and signers a test can use.
//
// Verification never reads the scheme from the message: the receiver's
// Keys say which schemes it trusts, and entries of any other version are
// skipped, as the spec asks for forward compatibility. The timestamp window
// is the caller's (payguard's pipeline holds it to `tolerance` both ways).
package webhooksig

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The header names (canonical form; HTTP header names are case-insensitive).
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// DefaultTolerance is the spec libraries' timestamp window, applied in both
// directions.
const DefaultTolerance = 5 * time.Minute

// The signature identifiers of the spec.
const (
	VersionV1  = "v1"  // HMAC-SHA256, symmetric
	VersionV1a = "v1a" // Ed25519, asymmetric
)

// Limits on what a header may hold. A sender signs with a handful of keys
// during a rotation; the caps keep an attacker from making payguard try
// thousands of Ed25519 verifications per request.
const (
	MaxIDLen          = 256
	maxTimestampLen   = 18 // fits int64 without overflow checks
	MaxSignatureLen   = 8 << 10
	MaxSignatureItems = 32
)

// Sentinel errors; every error Parse and Verify return is one of them
// (wrapped with detail), so callers map them to reason codes with
// errors.Is. None ever holds a secret or a signature value.
var (
	// ErrMissingHeader: one of the three headers is absent or empty.
	ErrMissingHeader = errors.New("webhooksig: missing header")
	// ErrMalformedHeader: a header is repeated, too long, or not in the
	// spec's syntax (an id with '.', a timestamp that is not a decimal
	// integer, a signature entry that is not `version,value`).
	ErrMalformedHeader = errors.New("webhooksig: malformed header")
	// ErrNoSignature: no entry of a scheme the receiver trusts (a v1-only
	// header at a receiver holding only public keys, or only unknown
	// versions).
	ErrNoSignature = errors.New("webhooksig: no signature of a trusted scheme")
	// ErrBadSignature: entries of a trusted scheme, none of which matches.
	ErrBadSignature = errors.New("webhooksig: no signature matches")
)

// Entry is one `version,value` item of the webhook-signature header, value
// still base64 text.
type Entry struct {
	Version string
	Value   string
}

// Message is the signed metadata of one delivery, as received: ID and
// Timestamp are the raw header texts (the signature covers those bytes).
type Message struct {
	ID        string
	Timestamp string
	// Time is Timestamp read as Unix seconds.
	Time    time.Time
	Entries []Entry
}

// ParseHeaders reads the three headers. Each must appear once; ID and
// Timestamp must be in the spec's syntax and the signature header a list
// of `version,value` entries (ParseSignature).
func ParseHeaders(h http.Header) (*Message, error) {
	id, err := single(h, HeaderID)
	if err != nil {
		return nil, err
	}
	ts, err := single(h, HeaderTimestamp)
	if err != nil {
		return nil, err
	}
	sig, err := single(h, HeaderSignature)
	if err != nil {
		return nil, err
	}
	return Parse(id, ts, sig)
}

// Parse checks the three header values.
func Parse(id, timestamp, signature string) (*Message, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	t, err := ParseTimestamp(timestamp)
	if err != nil {
		return nil, err
	}
	entries, err := ParseSignature(signature)
	if err != nil {
		return nil, err
	}
	return &Message{ID: id, Timestamp: timestamp, Time: t, Entries: entries}, nil
}

func single(h http.Header, name string) (string, error) {
	v := h.Values(name)
	switch {
	case len(v) == 0 || v[0] == "":
		return "", wrap(ErrMissingHeader, name)
	case len(v) > 1:
		return "", wrap(ErrMalformedHeader, name+" appears more than once")
	}
	return v[0], nil
}

// checkID: the spec forbids '.' in the id (it would let `a.1` + `2.body`
// pass for `a` + `1` + `.2.body`); payguard also keeps it to visible ASCII
// because it becomes a store key and a forwarded header.
func checkID(id string) error {
	if id == "" {
		return wrap(ErrMissingHeader, HeaderID)
	}
	if len(id) > MaxIDLen {
		return wrap(ErrMalformedHeader, HeaderID+" is longer than 256 bytes")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '.' {
			return wrap(ErrMalformedHeader, HeaderID+" holds '.', a space or a non-ASCII byte")
		}
	}
	return nil
}

// ParseTimestamp reads a webhook-timestamp: Unix seconds, decimal digits
// only (no sign, no fraction, no spaces).
func ParseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, wrap(ErrMissingHeader, HeaderTimestamp)
	}
	if len(s) > maxTimestampLen {
		return time.Time{}, wrap(ErrMalformedHeader, HeaderTimestamp+" is too long")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, wrap(ErrMalformedHeader, HeaderTimestamp+" is not a decimal number of seconds")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil { // unreachable with 18 digits; kept so no input can surprise
		return time.Time{}, wrap(ErrMalformedHeader, HeaderTimestamp+" is out of range")
	}
	return time.Unix(n, 0), nil
}

// ParseSignature splits a webhook-signature value into its entries:
// space-separated `version,value` items. Unknown versions are kept (Verify
// skips them); an item without a comma, with an empty version or value, or
// a list longer than the caps is ErrMalformedHeader.
func ParseSignature(s string) ([]Entry, error) {
	if strings.TrimSpace(s) == "" {
		return nil, wrap(ErrMissingHeader, HeaderSignature)
	}
	if len(s) > MaxSignatureLen {
		return nil, wrap(ErrMalformedHeader, HeaderSignature+" is too long")
	}
	items := strings.Fields(s)
	if len(items) > MaxSignatureItems {
		return nil, wrap(ErrMalformedHeader, HeaderSignature+" has more than 32 entries")
	}
	out := make([]Entry, 0, len(items))
	for _, it := range items {
		v, sig, ok := strings.Cut(it, ",")
		if !ok || v == "" || sig == "" {
			return nil, wrap(ErrMalformedHeader, HeaderSignature+" entry is not version,signature")
		}
		out = append(out, Entry{Version: v, Value: sig})
	}
	return out, nil
}

// Keys are what a receiver trusts. Secrets verify v1 entries, PublicKeys
// v1a entries; a scheme without keys is not trusted, so its entries are
// skipped like an unknown version's.
type Keys struct {
	Secrets    [][]byte
	PublicKeys []ed25519.PublicKey
}

// Verify checks that some entry of a trusted scheme signs m and body. It
// does not look at the time: the caller holds m.Time to its window.
func (k Keys) Verify(m *Message, body []byte) error {
	var content []byte // built once, only when a v1a entry is tried
	var macs [][]byte  // one per secret, computed on first use
	tried := false
	for _, e := range m.Entries {
		switch {
		case e.Version == VersionV1 && len(k.Secrets) > 0:
			tried = true
			if macs == nil {
				macs = make([][]byte, len(k.Secrets))
				for i, s := range k.Secrets {
					macs[i] = mac(s, m.ID, m.Timestamp, body)
				}
			}
			got, err := base64.StdEncoding.DecodeString(e.Value)
			if err != nil {
				continue
			}
			for _, want := range macs {
				if hmac.Equal(got, want) {
					return nil
				}
			}
		case e.Version == VersionV1a && len(k.PublicKeys) > 0:
			tried = true
			got, err := base64.StdEncoding.DecodeString(e.Value)
			if err != nil || len(got) != ed25519.SignatureSize {
				continue
			}
			if content == nil {
				content = signedContent(m.ID, m.Timestamp, body)
			}
			for _, pub := range k.PublicKeys {
				if ed25519.Verify(pub, content, got) {
					return nil
				}
			}
		}
	}
	if !tried {
		return ErrNoSignature
	}
	return ErrBadSignature
}

// Sign returns a webhook-signature value with one v1 entry per secret,
// space-separated (several during a rotation), for the message id sent at
// ts.
func Sign(secrets [][]byte, id string, ts int64, body []byte) string {
	sigs := make([]string, 0, len(secrets))
	t := strconv.FormatInt(ts, 10)
	for _, s := range secrets {
		sigs = append(sigs, VersionV1+","+base64.StdEncoding.EncodeToString(mac(s, id, t, body)))
	}
	return strings.Join(sigs, " ")
}

// SignV1a returns a webhook-signature value with one v1a entry per key.
func SignV1a(keys []ed25519.PrivateKey, id string, ts int64, body []byte) string {
	content := signedContent(id, strconv.FormatInt(ts, 10), body)
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		sigs = append(sigs, VersionV1a+","+base64.StdEncoding.EncodeToString(ed25519.Sign(k, content)))
	}
	return strings.Join(sigs, " ")
}

func mac(secret []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// signedContent is `id.timestamp.body`, the bytes both schemes sign.
func signedContent(id, ts string, body []byte) []byte {
	b := make([]byte, 0, len(id)+len(ts)+2+len(body))
	b = append(b, id...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	return append(b, body...)
}

type detailError struct {
	err    error
	detail string
}

func (e *detailError) Error() string { return e.err.Error() + ": " + e.detail }
func (e *detailError) Unwrap() error { return e.err }

func wrap(err error, detail string) error { return &detailError{err, detail} }
