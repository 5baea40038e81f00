package unionpay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/url"
	"sort"
	"strings"
)

// signedDigest is what signMethod 01 signs: SHA-256 over the ASCII of the
// lower-case hex SHA-256 of the content. SHA-256 runs twice; the single-hash
// variant does not verify against the derived vector (providers.md
// section 4).
func signedDigest(content []byte) [sha256.Size]byte {
	inner := sha256.Sum256(content)
	var hexed [2 * sha256.Size]byte
	hex.Encode(hexed[:], inner[:])
	return sha256.Sum256(hexed[:])
}

// verifySignature checks a signMethod 01 signature (RSA PKCS#1 v1.5) of
// content.
func verifySignature(pub *rsa.PublicKey, content, sig []byte) error {
	d := signedDigest(content)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
}

// Sign returns the base64 signMethod 01 signature of params (signature
// itself excluded), as UnionPay and merchants sign: the simulator signs
// notifications and answers with it, the query client its requests.
func Sign(key *rsa.PrivateKey, params map[string]string) (string, error) {
	if key == nil {
		return "", errors.New("unionpay: no signing key")
	}
	d := signedDigest(signContentOf(params))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// EncodeForm writes params as an application/x-www-form-urlencoded body,
// keys sorted: the shape of a backUrl notification and of a query request.
func EncodeForm(params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(params[k]))
	}
	return []byte(b.String())
}

// EncodeAnswer writes params as queryTrans.do answers: k=v&... with raw
// values, keys sorted. Values must hold no '&' outside {...} or [...].
func EncodeAnswer(params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return []byte(b.String())
}

// CertPEM is a certificate as UnionPay puts it in signPubKeyCert.
func CertPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// CertID is a certificate's certId: its serial number in decimal.
func CertID(c *x509.Certificate) string { return c.SerialNumber.String() }
