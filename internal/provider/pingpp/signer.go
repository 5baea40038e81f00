package pingpp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
)

// Sign returns the X-Pingplusplus-Signature value Ping++ would send with
// body: base64 of RSA-SHA256 (PKCS#1 v1.5) with Ping++'s private key. The
// simulator and tests sign with it; payguard itself only verifies.
func Sign(key *rsa.PrivateKey, body []byte) (string, error) {
	digest := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
