package appstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// algES256 is the only algorithm App Store signed data uses. It is fixed
// here, not read from the message: a header naming anything else (none,
// HS256 with the certificate as the "secret", RS256) is refused before any
// key is touched.
const algES256 = "ES256"

// es256SignatureSize is R||S, 32 bytes each (RFC 7518 section 3.4), not
// the ASN.1 DER form crypto/ecdsa's VerifyASN1 takes.
const es256SignatureSize = 64

// maxJWS bounds one compact JWS; Apple's notifications are about 10 KiB,
// each nested JWS about 3 KiB.
const maxJWS = 256 << 10

// b64url is base64url without padding, strict: non-canonical trailing bits
// are refused, so one JWS has exactly one spelling.
var b64url = base64.RawURLEncoding.Strict()

// compactJWS is a JWS in compact serialization, parsed but not verified.
type compactJWS struct {
	x5c          []string // base64 (standard, padded) DER, leaf first
	signingInput string   // "header.payload": the ASCII bytes ES256 signs
	payload      []byte   // the decoded payload, unauthenticated until verified
	signature    []byte   // R||S
}

// parseJWS splits and decodes a compact JWS and checks its header: alg
// must be ES256, x5c an array of strings, and no crit member (payguard
// implements no JWS extension, so RFC 7515 section 4.1.11 says refuse).
// Framing errors (not three base64url parts, a header that is not JSON)
// are malformed; a header that names another algorithm or no certificate
// chain is bad_signature. It never panics, whatever s holds.
func parseJWS(s string) (*compactJWS, error) {
	if len(s) > maxJWS {
		return nil, reason.New(reason.Malformed, "JWS longer than %d bytes", maxJWS)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, reason.New(reason.Malformed, "JWS has %d parts, not 3", len(parts))
	}
	header, err := b64url.DecodeString(parts[0])
	if err != nil {
		return nil, reason.New(reason.Malformed, "JWS header is not base64url")
	}
	payload, err := b64url.DecodeString(parts[1])
	if err != nil {
		return nil, reason.New(reason.Malformed, "JWS payload is not base64url")
	}
	sig, err := b64url.DecodeString(parts[2])
	if err != nil {
		return nil, reason.New(reason.Malformed, "JWS signature is not base64url")
	}
	h, err := strictjson.DecodeObject(header)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "JWS header")
	}
	alg, _, err := stringField(h, "alg")
	if err != nil || alg != algES256 {
		return nil, reason.New(reason.BadSignature, "JWS alg %q is not ES256", clip(fmt.Sprint(h["alg"])))
	}
	if _, ok := h["crit"]; ok {
		return nil, reason.New(reason.BadSignature, "JWS header has crit extensions")
	}
	x5c, err := stringList(h["x5c"])
	if err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "JWS header x5c")
	}
	return &compactJWS{
		x5c:          x5c,
		signingInput: parts[0] + "." + parts[1],
		payload:      payload,
		signature:    sig,
	}, nil
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, errors.New("missing or not a list")
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("entry %d is not a string", i)
		}
		out[i] = s
	}
	return out, nil
}

// verifyES256 checks an R||S signature over signingInput with a P-256
// key. Any other length is a failure, not a parse attempt.
func verifyES256(pub *ecdsa.PublicKey, signingInput string, sig []byte) bool {
	if pub == nil || pub.Curve != elliptic.P256() || len(sig) != es256SignatureSize {
		return false
	}
	digest := sha256.Sum256([]byte(signingInput))
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}

// signES256 returns the compact JWS of header and payload (JSON bytes)
// signed with key: the simulator's notifications and the App Store
// Connect token use it.
func signES256(key *ecdsa.PrivateKey, header, payload []byte) (string, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return "", errors.New("ES256 needs a P-256 key")
	}
	input := b64url.EncodeToString(header) + "." + b64url.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, es256SignatureSize)
	r.FillBytes(sig[:32]) // r and s are below the P-256 order: 32 bytes
	s.FillBytes(sig[32:])
	return input + "." + b64url.EncodeToString(sig), nil
}
