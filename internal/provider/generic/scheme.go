package generic

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// Formats of the body.
const (
	formatForm = "form"
	formatJSON = "json"
	formatXML  = "xml"
	formatRaw  = "raw"
)

// Algorithms. The configuration alone chooses one; no field of a message
// is ever read to choose between them.
const (
	AlgHMACSHA256 = "hmac-sha256"
	AlgHMACSHA1   = "hmac-sha1"
	AlgMD5WithKey = "md5-with-key"
	AlgRSASHA256  = "rsa-sha256"
	AlgRSASHA1    = "rsa-sha1"
	AlgEd25519    = "ed25519"
)

// weak lists the algorithms payguard accepts for compatibility only, with
// why, for the warning at start.
var weak = map[string]string{
	AlgMD5WithKey: "MD5 of the message and a suffixed key is open to length extension and collisions",
	AlgHMACSHA1:   "SHA-1 is deprecated for new signatures",
	AlgRSASHA1:    "SHA-1 signatures can be forged by chosen-prefix collisions",
}

// Message kinds: what is signed.
const (
	MessageRaw          = "raw"
	MessageSortedFields = "sorted_fields"
	MessageConcat       = "concat"
)

// Tokens of `message concat` and key_suffix besides field names.
const (
	tokSecret    = "{secret}"
	tokBody      = "{body}"
	tokTimestamp = "{timestamp}"
	tokNonce     = "{nonce}"
)

// Timestamp formats.
const (
	TimeUnix    = "unix"
	TimeUnixMS  = "unix_ms"
	TimeRFC3339 = "rfc3339"
)

// Location is where a value sits: a header or a body field.
type Location struct {
	Header bool
	Name   string
}

func (l Location) String() string {
	if l.Header {
		return "header " + l.Name
	}
	return "field " + l.Name
}

// Scheme is a partner's signature scheme, as the generic block describes
// it (DESIGN.md section 3). Verification and the simulator's signer both
// build the signed bytes from it, so they cannot drift apart.
type Scheme struct {
	Format    string // form, json, xml or raw
	Signature Location
	Encoding  string // base64 or hex
	Algorithm string
	// Message is raw, sorted_fields or concat; Parts are concat's
	// elements: field names and the {secret}, {body}, {timestamp} and
	// {nonce} tokens.
	Message string
	Parts   []string
	// Separator joins concat's elements (default none, as BeeCloud).
	Separator string
	// KeySuffix is appended to the message, "{secret}" replaced by the
	// secret: "&key={secret}" for the WeChat-style md5 scheme.
	KeySuffix string
	// SignEmpty puts empty fields into sorted_fields (default: left out,
	// WeChat's rule). Exclude are fields sorted_fields leaves out besides
	// the signature field (some partners do not sign sign_type).
	SignEmpty bool
	Exclude   []string
	// Timestamp and Nonce are optional; the signature must cover them.
	Timestamp       *Location
	TimestampFormat string // unix (default), unix_ms, rfc3339
	Nonce           *Location
}

// Check refuses a scheme that cannot work or cannot protect: a signature
// field inside a raw-signed body, a keyless md5, a secret named in an
// asymmetric scheme, or a timestamp or nonce the signature does not
// cover (an attacker would set it freely).
func (s *Scheme) Check() error {
	switch s.Format {
	case formatForm, formatJSON, formatXML, formatRaw:
	default:
		return fmt.Errorf("format must be form, json, xml or raw")
	}
	if _, ok := digestSize[s.Algorithm]; !ok {
		return fmt.Errorf("algorithm must be hmac-sha256, hmac-sha1, md5-with-key, rsa-sha256, rsa-sha1 or ed25519")
	}
	if s.Encoding != "base64" && s.Encoding != "hex" {
		return errors.New("encoding must be base64 or hex")
	}
	if s.Signature.Name == "" {
		return errors.New("signature needs `header <name>` or `field <name>`")
	}
	fields := s.Format != formatRaw
	if !s.Signature.Header && !fields {
		return errors.New("signature field: a raw body has no fields; use signature header")
	}
	if err := s.checkMessage(fields); err != nil {
		return err
	}
	if err := s.checkSecretUse(); err != nil {
		return err
	}
	if err := s.checkCovered("timestamp", s.Timestamp, tokTimestamp, fields); err != nil {
		return err
	}
	if err := s.checkCovered("nonce", s.Nonce, tokNonce, fields); err != nil {
		return err
	}
	switch s.TimestampFormat {
	case "", TimeUnix, TimeUnixMS, TimeRFC3339:
	default:
		return errors.New("the timestamp format must be unix, unix_ms or rfc3339")
	}
	return nil
}

func (s *Scheme) checkMessage(fields bool) error {
	switch s.Message {
	case MessageRaw:
		if !s.Signature.Header {
			return errors.New("message raw signs the whole body, which would hold the signature field: use sorted_fields or concat")
		}
	case MessageSortedFields:
		if !fields {
			return errors.New("message sorted_fields needs a form, json or xml body")
		}
	case MessageConcat:
		if len(s.Parts) == 0 {
			return errors.New("message concat needs the fields (and {secret}) it concatenates")
		}
		for _, p := range s.Parts {
			switch {
			case p == tokSecret || p == tokBody:
			case p == tokTimestamp && s.Timestamp == nil:
				return errors.New("message concat names {timestamp}, but no timestamp is configured")
			case p == tokNonce && s.Nonce == nil:
				return errors.New("message concat names {nonce}, but no nonce is configured")
			case p == tokTimestamp || p == tokNonce:
			case strings.ContainsAny(p, "{}"):
				return fmt.Errorf("message concat: %s is not {secret}, {body}, {timestamp}, {nonce} or a field name", strictjson.Quote(p))
			case !fields:
				return fmt.Errorf("message concat: field %s, but a raw body has no fields", strictjson.Quote(p))
			case !s.Signature.Header && p == s.Signature.Name:
				return errors.New("message concat names the signature field itself")
			}
		}
	default:
		return errors.New("message must be raw, sorted_fields or concat <fields>")
	}
	if len(s.Exclude) > 0 && s.Message != MessageSortedFields {
		return errors.New("exclude_fields only applies to message sorted_fields")
	}
	return nil
}

// checkSecretUse: md5 has no key of its own, so the secret must be in
// the hashed bytes; RSA and Ed25519 have no secret to put there.
func (s *Scheme) checkSecretUse() error {
	uses := strings.Contains(s.KeySuffix, tokSecret)
	for _, p := range s.Parts {
		uses = uses || p == tokSecret
	}
	switch {
	case s.Algorithm == AlgMD5WithKey && !uses:
		return errors.New("md5-with-key needs the secret in the message: key_suffix \"&key={secret}\" or {secret} in message concat")
	case s.asymmetric() && uses:
		return fmt.Errorf("%s signs with a key pair: {secret} has no meaning in its message", s.Algorithm)
	}
	return nil
}

// checkCovered: a timestamp or nonce counts only when the signature covers
// it. A header is covered only by its token in message concat; a field by
// a raw or sorted_fields message (unless excluded) or by being listed in
// concat.
func (s *Scheme) checkCovered(what string, loc *Location, token string, fields bool) error {
	if loc == nil {
		return nil
	}
	if loc.Name == "" {
		return fmt.Errorf("%s needs `header <name>` or `field <name>`", what)
	}
	if !loc.Header && !fields {
		return fmt.Errorf("%s field: a raw body has no fields", what)
	}
	if !loc.Header && loc.Name == s.Signature.Name && !s.Signature.Header {
		return fmt.Errorf("%s and the signature are the same field", what)
	}
	covered := false
	switch {
	case s.Message == MessageConcat:
		for _, p := range s.Parts {
			covered = covered || p == token || (!loc.Header && (p == loc.Name || p == tokBody))
		}
	case loc.Header:
	case s.Message == MessageRaw:
		covered = true
	case s.Message == MessageSortedFields:
		covered = !contains(s.Exclude, loc.Name)
	}
	if !covered {
		return fmt.Errorf("%s %s is not covered by the signature (add %s to message concat, or sign the field)", what, loc, token)
	}
	return nil
}

func (s *Scheme) asymmetric() bool {
	return s.Algorithm == AlgRSASHA256 || s.Algorithm == AlgRSASHA1 || s.Algorithm == AlgEd25519
}

// needsFields reports whether the signed bytes are built from body fields:
// then the body is parsed before the signature is checked; otherwise the
// signature is checked first and nothing unauthenticated is parsed.
func (s *Scheme) needsFields() bool {
	if !s.Signature.Header || s.Message == MessageSortedFields {
		return true
	}
	for _, p := range s.Parts {
		if !strings.HasPrefix(p, "{") {
			return true
		}
	}
	return false
}

// signs reports whether the signature covers the field key, for the
// mappings' view: raw covers every field, sorted_fields all but the
// signature, the excluded and (by default) the empty ones, concat those
// it lists (all of them when it lists {body}).
func (s *Scheme) signs(m *message) func(key string) bool {
	return func(key string) bool {
		if !s.Signature.Header && key == s.Signature.Name {
			return false
		}
		switch s.Message {
		case MessageRaw:
			return true
		case MessageSortedFields:
			f, _ := m.get(key)
			return !contains(s.Exclude, key) && (s.SignEmpty || f.value != "" || f.nested)
		}
		// concat: {body} signs every field, else only the listed ones.
		return contains(s.Parts, tokBody) || contains(s.Parts, key)
	}
}

// signedValues are the values besides the body that go into the signed
// bytes.
type signedValues struct {
	timestamp, nonce string
}

// signedBytes builds what is signed for one secret (nil for key pairs).
func (s *Scheme) signedBytes(m *message, secret []byte, v signedValues) ([]byte, error) {
	var b bytes.Buffer
	switch s.Message {
	case MessageRaw:
		b.Write(m.body)
	case MessageSortedFields:
		if err := s.writeSorted(&b, m); err != nil {
			return nil, err
		}
	case MessageConcat:
		for i, p := range s.Parts {
			if i > 0 {
				b.WriteString(s.Separator)
			}
			switch p {
			case tokSecret:
				b.Write(secret)
			case tokBody:
				b.Write(m.body)
			case tokTimestamp:
				b.WriteString(v.timestamp)
			case tokNonce:
				b.WriteString(v.nonce)
			default:
				f, ok := m.get(p)
				if !ok {
					return nil, reason.New(reason.Malformed, "signed field %s missing", strictjson.Quote(p))
				}
				if f.nested {
					return nil, reason.New(reason.Malformed, "signed field %s is an object or array, which has no canonical text", strictjson.Quote(p))
				}
				b.WriteString(f.value)
			}
		}
	}
	b.WriteString(strings.ReplaceAll(s.KeySuffix, tokSecret, string(secret)))
	return b.Bytes(), nil
}

// writeSorted writes k=v&... over the signed fields in byte order of keys.
func (s *Scheme) writeSorted(b *bytes.Buffer, m *message) error {
	signed := s.signs(m)
	keys := make([]string, 0, len(m.fields))
	for _, f := range m.fields {
		if signed(f.key) {
			if f.nested {
				return reason.New(reason.Malformed, "field %s is an object or array, which has no canonical text to sign (exclude_fields it if the partner does not sign it)", strictjson.Quote(f.key))
			}
			keys = append(keys, f.key)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		f, _ := m.get(k)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(f.value)
	}
	return nil
}

// digestSize is each algorithm's signature length in bytes; 0 for RSA,
// whose length is the key's.
var digestSize = map[string]int{
	AlgHMACSHA256: sha256.Size, AlgHMACSHA1: sha1.Size, AlgMD5WithKey: md5.Size,
	AlgRSASHA256: 0, AlgRSASHA1: 0, AlgEd25519: 64,
}

// mac computes a symmetric scheme's signature over msg.
func (s *Scheme) mac(msg, secret []byte) []byte {
	var h hash.Hash
	switch s.Algorithm {
	case AlgHMACSHA256:
		h = hmac.New(sha256.New, secret)
	case AlgHMACSHA1:
		h = hmac.New(sha1.New, secret)
	default: // md5-with-key: the secret is in msg (Check made sure)
		h = md5.New()
	}
	h.Write(msg)
	return h.Sum(nil)
}

// decodeSignature decodes a signature as configured. Hex is accepted in
// either case (WeChat writes upper, BeeCloud lower): both sides are
// compared as bytes. Base64 is the standard alphabet with padding, on one
// line.
func (s *Scheme) decodeSignature(v string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	switch {
	case s.Encoding == "hex":
		b, err = hex.DecodeString(v)
	case strings.ContainsAny(v, "\r\n"):
		// encoding/base64 skips line breaks; a signature has none.
		err = errors.New("line break")
	default:
		b, err = base64.StdEncoding.Strict().DecodeString(v)
	}
	if err != nil || len(b) == 0 {
		return nil, reason.New(reason.BadSignature, "the signature is not %s", s.Encoding)
	}
	return b, nil
}

// encodeSignature is decodeSignature's inverse, for the signer.
func (s *Scheme) encodeSignature(b []byte) string {
	if s.Encoding == "hex" {
		return hex.EncodeToString(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// parseTime reads a signed timestamp in the configured format.
func (s *Scheme) parseTime(v string) (time.Time, error) {
	if s.TimestampFormat == TimeRFC3339 {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, reason.New(reason.Malformed, "timestamp is not RFC 3339")
		}
		return t, nil
	}
	if v == "" || len(v) > 18 || (len(v) > 1 && v[0] == '0') || strings.Trim(v, "0123456789") != "" {
		return time.Time{}, reason.New(reason.Malformed, "timestamp is not a plain unix time")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, reason.New(reason.Malformed, "timestamp is not a plain unix time")
	}
	if s.TimestampFormat == TimeUnixMS {
		return time.UnixMilli(n), nil
	}
	return time.Unix(n, 0), nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
