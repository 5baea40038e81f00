package unionpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"
)

// PKI is a UnionPay-shaped certificate hierarchy made for the simulator and
// the tests: a root, a middle certificate under it, UnionPay's signing
// certificate and a merchant's signing certificate under the middle, all
// SHA-256 RSA-2048. UnionPay's published test chain is SHA-1 at every link,
// which crypto/x509 refuses, so it cannot serve here; this one has the same
// shape (the CN owner field included).
type PKI struct {
	Root, Middle       *x509.Certificate
	RootKey, MiddleKey *rsa.PrivateKey
	// Sign and SignKey stand in for UnionPay's signing certificate: its CN
	// names Owner.
	Sign    *x509.Certificate
	SignKey *rsa.PrivateKey
	// Merchant and MerchantKey are the merchant's signing certificate: the
	// same chain, the merchant as owner.
	Merchant    *x509.Certificate
	MerchantKey *rsa.PrivateKey
}

// pkiValidity is how long the simulator's certificates are valid: long
// enough for a committed example set to outlive the repository's use of it.
const pkiValidity = 20 * 365 * 24 * time.Hour

// NewPKI makes a fresh hierarchy valid from an hour before now for
// pkiValidity, with a merchant certificate for merID.
func NewPKI(merID string, now time.Time) (*PKI, error) {
	var p PKI
	var err error
	from, to := now.Add(-time.Hour), now.Add(pkiValidity)
	if p.RootKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if p.Root, err = IssueCert(nil, p.RootKey, &p.RootKey.PublicKey, CertSpec{CN: "payguard sandbox UnionPay root", CA: true, From: from, To: to}); err != nil {
		return nil, err
	}
	if p.MiddleKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if p.Middle, err = IssueCert(p.Root, p.RootKey, &p.MiddleKey.PublicKey, CertSpec{CN: "payguard sandbox UnionPay middle", CA: true, From: from, To: to}); err != nil {
		return nil, err
	}
	day := now.UTC().Format("2006-01-02")
	if p.SignKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if p.Sign, err = IssueCert(p.Middle, p.MiddleKey, &p.SignKey.PublicKey, CertSpec{CN: "041@Z" + day + "@" + Owner + "@00000001", From: from, To: to}); err != nil {
		return nil, err
	}
	if p.MerchantKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if p.Merchant, err = IssueCert(p.Middle, p.MiddleKey, &p.MerchantKey.PublicKey, CertSpec{CN: "041@Z" + day + "@" + merID + ":SIGN@00000002", From: from, To: to}); err != nil {
		return nil, err
	}
	return &p, nil
}

// CertSpec describes a certificate IssueCert makes.
type CertSpec struct {
	CN       string
	CA       bool
	From, To time.Time
}

// IssueCert makes a SHA-256 RSA certificate for pub, signed by parentKey
// under parent (nil parent: self-signed). A CA is a CA for one more level;
// a leaf may sign (digitalSignature, contentCommitment) and nothing else.
func IssueCert(parent *x509.Certificate, parentKey *rsa.PrivateKey, pub *rsa.PublicKey, s CertSpec) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{Country: []string{"CN"}, Organization: []string{"payguard sandbox"}, CommonName: s.CN},
		NotBefore:             s.From,
		NotAfter:              s.To,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	if s.CA {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		if parent != nil {
			tmpl.MaxPathLenZero = true
		}
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
