package appstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"time"
)

// testPKI is an App Store-shaped chain made locally, for the simulator
// and the tests: a root, an intermediate carrying Apple's WWDR marker and
// a leaf carrying the receipt-signing marker, all P-256. A sidecar that
// pins the root (root_cert_file) verifies what the leaf signs exactly as
// it verifies Apple's chain.
type testPKI struct {
	root, inter, leaf          *x509.Certificate
	rootKey, interKey, leafKey *ecdsa.PrivateKey
}

// markerNull is the value Apple's marker extensions carry: ASN.1 NULL.
var markerNull = []byte{0x05, 0x00}

// sandboxCertLifetime keeps the simulator's chain valid for as long as a
// keys directory is kept around.
const sandboxCertLifetime = 10 * 365 * 24 * time.Hour

func newTestPKI(now time.Time) (*testPKI, error) {
	p := &testPKI{}
	var err error
	if p.rootKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if p.interKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if p.leafKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	notBefore, notAfter := now.Add(-time.Hour), now.Add(sandboxCertLifetime)
	root := caTemplate("payguard sandbox Apple Root CA", notBefore, notAfter, -1)
	if p.root, err = issue(root, root, &p.rootKey.PublicKey, p.rootKey); err != nil {
		return nil, err
	}
	inter := caTemplate("payguard sandbox Apple Worldwide Developer Relations CA", notBefore, notAfter, 0)
	inter.ExtraExtensions = []pkix.Extension{{Id: oidWWDRIntermediate, Value: markerNull}}
	if p.inter, err = issue(inter, p.root, &p.interKey.PublicKey, p.rootKey); err != nil {
		return nil, err
	}
	if p.leaf, err = issue(leafTemplate("payguard sandbox App Store receipt signing", notBefore, notAfter), p.inter, &p.leafKey.PublicKey, p.interKey); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *testPKI) x5c() []string { return x5cOf(p.leaf, p.inter, p.root) }

func x5cOf(certs ...*x509.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return out
}

// forgedLeaf is a self-signed certificate that looks like Apple's leaf
// (same marker) but that no intermediate signed: what an attacker puts in
// front of Apple's genuine intermediate and root.
func forgedLeaf(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := leafTemplate("Prod ECC Mac App Store and iTunes Store Receipt Signing", now.Add(-time.Hour), now.Add(24*time.Hour))
	c, err := issue(tmpl, tmpl, &key.PublicKey, key)
	return c, key, err
}

func caTemplate(cn string, notBefore, notAfter time.Time, maxPathLen int) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"payguard sandbox"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
	}
}

func leafTemplate(cn string, notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:    randomSerial(),
		Subject:         pkix.Name{CommonName: cn, Organization: []string{"payguard sandbox"}},
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidReceiptSigner, Value: markerNull}},
	}
}

func issue(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func randomSerial() *big.Int {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return new(big.Int).SetBytes(b)
}
