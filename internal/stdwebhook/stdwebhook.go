// Package stdwebhook is the Standard Webhooks signature scheme
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
package stdwebhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
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
	ErrMissingHeader = errors.New("stdwebhook: missing header")
	// ErrMalformedHeader: a header is repeated, too long, or not in the
	// spec's syntax (an id with '.', a timestamp that is not a decimal
	// integer, a signature entry that is not `version,value`).
	ErrMalformedHeader = errors.New("stdwebhook: malformed header")
	// ErrNoSignature: no entry of a scheme the receiver trusts (a v1-only
	// header at a receiver holding only public keys, or only unknown
	// versions).
	ErrNoSignature = errors.New("stdwebhook: no signature of a trusted scheme")
	// ErrBadSignature: entries of a trusted scheme, none of which matches.
	ErrBadSignature = errors.New("stdwebhook: no signature matches")
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

// MAC is the raw v1 HMAC-SHA256 of id.timestamp.body under secret.
// Compare it with hmac.Equal, never with ==.
func MAC(secret []byte, id string, ts int64, body []byte) []byte {
	return mac(secret, id, strconv.FormatInt(ts, 10), body)
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

// The key prefixes of the spec ("secret serialization").
const (
	SecretPrefix     = "whsec_" // v1 shared secret
	PublicKeyPrefix  = "whpk_"  // v1a public key
	PrivateKeyPrefix = "whsk_"  // v1a secret key (the 32-byte Ed25519 seed)
)

// MinSecretLen is the shortest v1 secret accepted, in bytes. The spec asks
// senders for at least 24; payguard has accepted 16 for upstream_secret
// from the start and keeps doing so.
const MinSecretLen = 16

// ParseSecret decodes a v1 secret: "whsec_" followed by standard base64.
// Surrounding whitespace (a file's trailing newline) is ignored. Errors
// never repeat the value.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), SecretPrefix)
	if !ok {
		return nil, errors.New("must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("the part after " + SecretPrefix + " is not base64")
	}
	if len(key) < MinSecretLen {
		return nil, errors.New("fewer than 16 bytes of key after " + SecretPrefix)
	}
	return key, nil
}

// FormatSecret is the whsec_ text of a v1 secret.
func FormatSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// ParsePublicKey decodes a v1a public key: "whpk_" followed by the base64
// of the 32-byte Ed25519 key, or that base64 alone (the spec serializes
// keys as base64 and adds the prefix for identification).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeKey(s, PublicKeyPrefix, SecretPrefix, PrivateKeyPrefix)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, errors.New("an Ed25519 public key is 32 bytes")
	}
	return ed25519.PublicKey(b), nil
}

// FormatPublicKey is the whpk_ text of a v1a public key.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePrivateKey decodes a v1a secret key: "whsk_" (or nothing) followed
// by the base64 of the 32-byte Ed25519 seed, or of the 64-byte seed and
// public key as Go and libsodium store it (the halves must agree).
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := decodeKey(s, PrivateKeyPrefix, SecretPrefix, PublicKeyPrefix)
	if err != nil {
		return nil, err
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		k := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(k, b) != 1 {
			return nil, errors.New("the public half does not belong to the seed")
		}
		return k, nil
	}
	return nil, errors.New("an Ed25519 secret key is a 32-byte seed (or 64 bytes with its public key)")
}

// FormatPrivateKey is the whsk_ text of a v1a secret key (its seed).
func FormatPrivateKey(k ed25519.PrivateKey) string {
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(k.Seed())
}

// decodeKey strips want (optional) and refuses the other scheme's prefixes,
// so a whsec_ secret pasted as a public key is named, not "not base64".
func decodeKey(s, want string, others ...string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, o := range others {
		if strings.HasPrefix(s, o) {
			return nil, errors.New("starts with " + o + ", expected " + want + " or bare base64")
		}
	}
	s = strings.TrimPrefix(s, want)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64 (expected " + want + " followed by base64)")
	}
	return b, nil
}
