package appstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/payguard/payguard/internal/keys"
)

// appleRootG3PEM is Apple Root CA - G3 (SHA-256 fingerprint
// 63343ABFB89A6A03EBB57E9B3F5FA7BE7C4F5C756F3017B3A8C488C3653E9179), the
// anchor of every App Store signing chain. It is a public certificate,
// shipped so that a configuration needs no file to trust Apple; the
// `root_cert_file` option replaces it.
//
//go:embed AppleRootCA-G3.pem
var appleRootG3PEM []byte

// Apple's marker extensions (Apple's libraries check exactly these): the
// App Store receipt-signing leaf and the Apple Worldwide Developer
// Relations intermediate. A certificate Apple issued for anything else
// (a push certificate, a developer's signing identity) chains to the same
// root but lacks them.
var (
	oidReceiptSigner    = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 11, 1}
	oidWWDRIntermediate = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 2, 1}
)

// chainLength is what Apple sends and its libraries demand: leaf,
// intermediate, root.
const chainLength = 3

// maxCertB64 bounds one x5c entry; Apple's are under 2 KiB.
const maxCertB64 = 16 << 10

// AppleRootCAG3 returns the embedded Apple Root CA - G3.
func AppleRootCAG3() *x509.Certificate {
	certs, err := keys.ParseCertificates(appleRootG3PEM)
	if err != nil || len(certs) != 1 {
		panic("appstore: the embedded Apple Root CA - G3 does not parse") // a build defect, caught by every test
	}
	return certs[0]
}

// chainVerifier checks an x5c chain against pinned roots only. Chains
// that verified are remembered with the time window they are valid in:
// Apple signs every notification and nested object with the same few
// chains, and for fixed certificates and roots the outcome of a check
// depends on nothing but the time.
type chainVerifier struct {
	roots *x509.CertPool

	mu       sync.Mutex
	verified map[[sha256.Size]byte]validity
}

// validity is when every certificate of a verified chain is valid.
type validity struct{ notBefore, notAfter time.Time }

// maxVerifiedChains bounds the memory of verified chains; Apple uses a
// handful at a time, so the bound is only reached by churn, and then the
// memory starts over.
const maxVerifiedChains = 64

func newChainVerifier(roots []*x509.Certificate) *chainVerifier {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	return &chainVerifier{roots: pool, verified: map[[sha256.Size]byte]validity{}}
}

// chainKey identifies leaf and intermediate by their full DER (the root
// the message brings plays no part in the check).
func chainKey(leaf, inter *x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	h.Write(leaf.Raw)
	h.Write([]byte{0})
	h.Write(inter.Raw)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *chainVerifier) remembered(k [sha256.Size]byte, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.verified[k]
	return ok && !at.Before(v.notBefore) && !at.After(v.notAfter)
}

func (c *chainVerifier) remember(k [sha256.Size]byte, chain []*x509.Certificate) {
	v := validity{notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(v.notBefore) {
			v.notBefore = cert.NotBefore
		}
		if cert.NotAfter.Before(v.notAfter) {
			v.notAfter = cert.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.verified) >= maxVerifiedChains {
		clear(c.verified)
	}
	c.verified[k] = v
}

// parseChain decodes an x5c header: exactly [leaf, intermediate, root].
func parseChain(x5c []string) ([]*x509.Certificate, error) {
	if len(x5c) != chainLength {
		return nil, fmt.Errorf("x5c holds %d certificates, not %d", len(x5c), chainLength)
	}
	certs := make([]*x509.Certificate, chainLength)
	for i, name := range []string{"leaf", "intermediate", "root"} {
		c, err := parseX5C(x5c[i])
		if err != nil {
			return nil, fmt.Errorf("x5c %s: %v", name, err)
		}
		certs[i] = c
	}
	return certs, nil
}

// leafKey is the leaf's public key, which must be ECDSA P-256 for ES256.
func leafKey(leaf *x509.Certificate) (*ecdsa.PublicKey, error) {
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("leaf key is not ECDSA P-256")
	}
	return pub, nil
}

// verify checks a parsed chain: the leaf signed by the intermediate, the
// intermediate by a pinned root, every certificate valid at `at`, the leaf
// carrying the receipt-signer marker and the intermediate the WWDR marker.
//
// certs[2] is never a trust anchor: the chain must end in a pinned root,
// whatever root the message brings along. And the leaf is verified, not
// just the two certificates above it: a self-signed leaf presented with
// Apple's genuine intermediate and root fails here (the go-pay bug, which
// took the key of an unverified x5c[0]).
func (c *chainVerifier) verify(certs []*x509.Certificate, at time.Time) error {
	if len(certs) != chainLength {
		return fmt.Errorf("chain holds %d certificates, not %d", len(certs), chainLength)
	}
	leaf, inter := certs[0], certs[1]
	key := chainKey(leaf, inter)
	if c.remembered(key, at) {
		return nil
	}
	intermediates := x509.NewCertPool()
	intermediates.AddCert(inter)
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         c.roots,
		Intermediates: intermediates,
		CurrentTime:   at,
		// Go demands serverAuth unless told otherwise; Apple's leaves
		// carry no extended key usage for it.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("certificate chain: %v", err)
	}
	path := appStorePath(chains, leaf, inter)
	if path == nil {
		// A leaf that a pinned root signed directly is no App Store leaf.
		return errors.New("certificate chain does not run leaf, intermediate, pinned root")
	}
	if !hasExtension(leaf, oidReceiptSigner) {
		return fmt.Errorf("leaf lacks the App Store receipt-signing marker %s", oidReceiptSigner)
	}
	if !hasExtension(inter, oidWWDRIntermediate) {
		return fmt.Errorf("intermediate lacks the Apple WWDR marker %s", oidWWDRIntermediate)
	}
	c.remember(key, path)
	return nil
}

// parseX5C decodes one x5c entry: standard base64 with padding (RFC 7515
// section 4.1.6), not base64url.
func parseX5C(s string) (*x509.Certificate, error) {
	if len(s) > maxCertB64 {
		return nil, errors.New("certificate too large")
	}
	der, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64 DER")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errors.New("not a certificate")
	}
	return c, nil
}

// appStorePath returns the verified chain that is exactly leaf, inter, a
// pinned root; nil when there is none.
func appStorePath(chains [][]*x509.Certificate, leaf, inter *x509.Certificate) []*x509.Certificate {
	for _, ch := range chains {
		if len(ch) == chainLength && ch[0].Equal(leaf) && ch[1].Equal(inter) {
			return ch
		}
	}
	return nil
}

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}
