package unionpay

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/reason"
)

// Owner is the owner field (the third '@'-separated field of the subject
// CN) of UnionPay's production signing certificate, as the ACP SDK's
// CertUtil.verifyCertificate checks it (providers.md section 4). Every CFCA
// customer, every merchant included, holds a certificate under the same
// root and middle: the chain alone proves nothing about who signed.
const Owner = "中国银联股份有限公司"

// maxCachedCerts bounds the verified-certificate cache. UnionPay has one
// signing certificate in use at a time, two while it rotates; only
// certificates that passed every check are cached.
const maxCachedCerts = 16

// maxCertPEM bounds the signPubKeyCert value before it is parsed; a real
// one is ~1.6 KiB.
const maxCertPEM = 16 << 10

// minRSABits is the smallest signing key accepted.
const minRSABits = 2048

// chainVerifier checks the certificate a message carries in signPubKeyCert
// against the configured root and middle certificates, and remembers the
// ones that passed. It is safe for concurrent use.
type chainVerifier struct {
	roots, middles *x509.CertPool

	// cache is keyed by the certificate's PEM text itself: a hit is an
	// exact match found by the map's own hash, no SHA-256 of ~1.6 KiB per
	// notification (at most maxCachedCerts keys of at most maxCertPEM).
	mu    sync.Mutex
	cache map[string]verifiedCert
	order []string // insertion order, oldest first
}

// verifiedCert is a signing certificate that chained, named UnionPay and
// holds an acceptable key. Its window is the intersection of the validity
// of every certificate in its chain, so a cache hit is re-checked at each
// message's time.
type verifiedCert struct {
	key                 *rsa.PublicKey
	notBefore, notAfter time.Time
}

// newChainVerifier parses the configured certificates (PEM, several per
// file allowed, bare base64 DER, or binary DER as UnionPay's .cer files
// sometimes are). Every one must be a CA certificate.
func newChainVerifier(rootPEM, middlePEM []byte) (*chainVerifier, error) {
	roots, err := parseCAs(rootPEM)
	if err != nil {
		return nil, fmt.Errorf("root_cert_file: %v", err)
	}
	middles, err := parseCAs(middlePEM)
	if err != nil {
		return nil, fmt.Errorf("middle_cert_file: %v", err)
	}
	v := &chainVerifier{roots: x509.NewCertPool(), middles: x509.NewCertPool(), cache: map[string]verifiedCert{}}
	for _, c := range roots {
		v.roots.AddCert(c)
	}
	for _, c := range middles {
		v.middles.AddCert(c)
	}
	return v, nil
}

// parseCertFile reads the certificates of a configured file.
func parseCertFile(data []byte) ([]*x509.Certificate, error) {
	if len(data) > 0 && data[0] == 0x30 { // binary DER (an ASN.1 SEQUENCE)
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, errors.New("not a DER certificate")
		}
		return []*x509.Certificate{c}, nil
	}
	return keys.ParseCertificates(data)
}

// parseCAs reads a configured root or middle file: every certificate in it
// must be a CA certificate.
func parseCAs(data []byte) ([]*x509.Certificate, error) {
	certs, err := parseCertFile(data)
	if err != nil {
		return nil, err
	}
	for i, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("certificate %d (%s) is not a CA certificate", i+1, quoteKey(c.Subject.CommonName))
		}
	}
	return certs, nil
}

// expiry is the earliest NotAfter among the configured certificates, for a
// start-up warning.
func expiry(files ...[]byte) time.Time {
	var first time.Time
	for _, f := range files {
		certs, _ := parseCertFile(f)
		for _, c := range certs {
			if first.IsZero() || c.NotAfter.Before(first) {
				first = c.NotAfter
			}
		}
	}
	return first
}

// signingKey returns the public key of the certificate in certPEM after
// checking it at now: it parses as exactly one PEM certificate, names
// UnionPay as its owner, holds an RSA key of at least 2048 bits usable for
// signatures, is valid at now and chains leaf → configured middle →
// configured root. Every failure is a *reason.Error with code
// bad_signature: the message does not authenticate as UnionPay's.
func (v *chainVerifier) signingKey(certPEM string, now time.Time) (*rsa.PublicKey, error) {
	if vc, ok := v.cached(certPEM); ok {
		if now.Before(vc.notBefore) || now.After(vc.notAfter) {
			return nil, reason.New(reason.BadSignature, "signPubKeyCert is not valid at %s", now.UTC().Format(time.RFC3339))
		}
		return vc.key, nil
	}
	leaf, err := parseSigningCert([]byte(certPEM))
	if err != nil {
		return nil, err
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: v.middles,
		CurrentTime:   now,
		// UnionPay's certificates carry no serverAuth EKU; without this
		// Verify demands one.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "signPubKeyCert does not chain to the configured root and middle certificates")
	}
	vc, ok := throughMiddle(chains)
	if !ok {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert is signed by the root itself, not by a configured middle certificate")
	}
	vc.key = leaf.PublicKey.(*rsa.PublicKey) // parseSigningCert checked the type
	// A copy: certPEM slices the whole notification's text.
	v.remember(strings.Clone(certPEM), vc)
	return vc.key, nil
}

// throughMiddle picks a chain with at least one configured middle
// certificate between the leaf and the root, and its validity window.
func throughMiddle(chains [][]*x509.Certificate) (verifiedCert, bool) {
	for _, chain := range chains {
		if len(chain) < 3 {
			continue
		}
		vc := verifiedCert{notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
		for _, c := range chain[1:] {
			if c.NotBefore.After(vc.notBefore) {
				vc.notBefore = c.NotBefore
			}
			if c.NotAfter.Before(vc.notAfter) {
				vc.notAfter = c.NotAfter
			}
		}
		return vc, true
	}
	return verifiedCert{}, false
}

// parseSigningCert parses a signPubKeyCert value and applies the checks
// that need no chain: one PEM CERTIFICATE block and nothing else, the
// UnionPay owner in the CN, an RSA key of at least 2048 bits, a key usage
// that allows signatures, not a CA. It never panics, whatever the input;
// errors are bad_signature.
func parseSigningCert(certPEM []byte) (*x509.Certificate, error) {
	if len(certPEM) > maxCertPEM {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert is larger than %d bytes", maxCertPEM)
	}
	block, rest := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert is not a PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert holds more than one PEM block")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert does not parse as a certificate")
	}
	owner, err := CertOwner(leaf.Subject.CommonName)
	if err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "signPubKeyCert")
	}
	if owner != Owner {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert belongs to %s, not to UnionPay", quoteKey(owner))
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert holds no RSA key")
	}
	if pub.N.BitLen() < minRSABits {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert's RSA key has %d bits, fewer than %d", pub.N.BitLen(), minRSABits)
	}
	if leaf.IsCA {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert is a CA certificate")
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, reason.New(reason.BadSignature, "signPubKeyCert's key usage does not allow signatures")
	}
	return leaf, nil
}

// CertOwner is the owner field of a UnionPay-style subject CN: the third
// of its '@'-separated fields ("041@Z2014-11-11@<owner>@00000003"). A CN
// with fewer than three fields has no owner and is an error, never an
// index out of range (smartwalle/unionpay indexes field 3 after checking
// for two, so a CN with one '@' panics there).
func CertOwner(cn string) (string, error) {
	fields := strings.SplitN(cn, "@", 4)
	if len(fields) < 3 {
		return "", fmt.Errorf("subject CN %s has %d '@'-separated fields, fewer than 3", quoteKey(cn), len(fields))
	}
	return fields[2], nil
}

func (v *chainVerifier) cached(certPEM string) (verifiedCert, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vc, ok := v.cache[certPEM]
	return vc, ok
}

func (v *chainVerifier) remember(certPEM string, vc verifiedCert) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.cache[certPEM]; ok {
		return
	}
	for len(v.order) >= maxCachedCerts {
		delete(v.cache, v.order[0])
		v.order = v.order[1:]
	}
	v.cache[certPEM] = vc
	v.order = append(v.order, certPEM)
}

// cachedCount is the number of cached certificates, for tests.
func (v *chainVerifier) cachedCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.cache)
}
