package unionpay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

// leafUnder issues a leaf under parent (nil: self-signed), valid [from,
// to]. Its key is the test PKI's UnionPay key: what these tests vary is the
// certificate around it, and RSA key generation is slow.
func leafUnder(t *testing.T, parent *x509.Certificate, parentKey *rsa.PrivateKey, cn string, from, to time.Time) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	pki, _ := pkis(t)
	k := pki.SignKey
	if parent == nil {
		parentKey = k
	}
	c, err := IssueCert(parent, parentKey, &k.PublicKey, CertSpec{CN: cn, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

const unionPayCN = "041@Z2026-12-01@" + Owner + "@00000001"

// TestChainFailures: every way the presented certificate can fail is
// bad_signature, and the genuine one passes.
func TestChainFailures(t *testing.T) {
	pki, stranger := pkis(t)
	now := time.Now()
	v, err := newChainVerifier([]byte(CertPEM(pki.Root)), []byte(CertPEM(pki.Middle)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.signingKey(CertPEM(pki.Sign), now); err != nil {
		t.Fatalf("genuine certificate refused: %v", err)
	}
	expired, _ := leafUnder(t, pki.Middle, pki.MiddleKey, unionPayCN, now.Add(-48*time.Hour), now.Add(-time.Hour))
	future, _ := leafUnder(t, pki.Middle, pki.MiddleKey, unionPayCN, now.Add(time.Hour), now.Add(48*time.Hour))
	forged, _ := leafUnder(t, nil, nil, unionPayCN, now.Add(-time.Hour), now.Add(time.Hour))
	byRoot, _ := leafUnder(t, pki.Root, pki.RootKey, unionPayCN, now.Add(-time.Hour), now.Add(time.Hour))
	shortCN, _ := leafUnder(t, pki.Middle, pki.MiddleKey, "041@"+Owner, now.Add(-time.Hour), now.Add(time.Hour))
	noCN, _ := leafUnder(t, pki.Middle, pki.MiddleKey, "", now.Add(-time.Hour), now.Add(time.Hour))
	ownerSecond, _ := leafUnder(t, pki.Middle, pki.MiddleKey, Owner+"@"+Owner, now.Add(-time.Hour), now.Add(time.Hour))
	cases := []struct {
		name, pem, detail string
	}{
		{"expired", CertPEM(expired), "chain"},
		{"not yet valid", CertPEM(future), "chain"},
		{"wrong root (a stranger's UnionPay certificate)", CertPEM(stranger.Sign), "chain"},
		{"forged self-signed leaf with UnionPay's CN", CertPEM(forged), "chain"},
		{"issued by the root, not the middle", CertPEM(byRoot), "middle"},
		{"wrong CN owner (the merchant's own certificate, same chain)", CertPEM(pki.Merchant), "not to UnionPay"},
		{"short CN (one '@')", CertPEM(shortCN), "fewer than 3"},
		{"no CN", CertPEM(noCN), "fewer than 3"},
		{"owner in the second field", CertPEM(ownerSecond), "fewer than 3"},
		{"the middle certificate itself", CertPEM(pki.Middle), "fewer than 3"},
		{"two PEM blocks", CertPEM(pki.Sign) + CertPEM(pki.Middle), "more than one"},
		{"not PEM", "MIIB...", "not a PEM"},
		{"PEM of another type", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pki.Sign.RawSubjectPublicKeyInfo})), "not a PEM"},
		{"PEM with garbage DER", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}})), "does not parse"},
		{"huge", strings.Repeat("A", maxCertPEM+1), "larger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.signingKey(c.pem, now)
			wantCode(t, err, reason.BadSignature)
			if !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("error %q does not say %q", err, c.detail)
			}
		})
	}
	if n := v.cachedCount(); n != 1 {
		t.Fatalf("%d certificates cached, want only the genuine one", n)
	}
}

// TestChainExpiredMiddle: a leaf valid now under a middle that expired is
// refused.
func TestChainExpiredMiddle(t *testing.T) {
	pki, _ := pkis(t)
	now := time.Now()
	mk := pki.MerchantKey // any key will do for the middle
	middle, err := IssueCert(pki.Root, pki.RootKey, &mk.PublicKey, CertSpec{CN: "old middle", CA: true, From: now.Add(-72 * time.Hour), To: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := leafUnder(t, middle, mk, unionPayCN, now.Add(-48*time.Hour), now.Add(48*time.Hour))
	v, err := newChainVerifier([]byte(CertPEM(pki.Root)), []byte(CertPEM(middle)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.signingKey(CertPEM(leaf), now)
	wantCode(t, err, reason.BadSignature)
}

// TestLeafKeyChecks: a CA, a weak RSA key, an ECDSA key, and a leaf that
// may not sign are refused before any chain is built.
func TestLeafKeyChecks(t *testing.T) {
	pki, _ := pkis(t)
	now := time.Now()
	mk := func(pub any, mod func(*x509.Certificate)) string {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: unionPayCN},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if mod != nil {
			mod(tmpl)
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.Middle, pub, pki.MiddleKey)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"1024-bit RSA":      mk(&weak.PublicKey, nil),
		"ECDSA":             mk(&ec.PublicKey, nil),
		"CA":                mk(&pki.SignKey.PublicKey, func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage |= x509.KeyUsageCertSign }),
		"encipherment only": mk(&pki.SignKey.PublicKey, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }),
	}
	for name, certPEM := range cases {
		_, err := parseSigningCert([]byte(certPEM))
		if reason.CodeOf(err, "") != reason.BadSignature {
			t.Errorf("%s: %v, want bad_signature", name, err)
		}
	}
}

// TestCertCache: a verified certificate is cached by its bytes, the cache
// re-checks validity at each use, and it holds at most maxCachedCerts.
func TestCertCache(t *testing.T) {
	pki, _ := pkis(t)
	now := time.Now()
	v, err := newChainVerifier([]byte(CertPEM(pki.Root)), []byte(CertPEM(pki.Middle)))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := leafUnder(t, pki.Middle, pki.MiddleKey, unionPayCN, now.Add(-time.Hour), now.Add(time.Hour))
	k1, err := v.signingKey(CertPEM(leaf), now)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := v.signingKey(CertPEM(leaf), now.Add(30*time.Minute))
	if err != nil || k1 != k2 || v.cachedCount() != 1 {
		t.Fatalf("second use: %v, same key %v, %d cached", err, k1 == k2, v.cachedCount())
	}
	// Past its NotAfter the cached certificate is refused too.
	_, err = v.signingKey(CertPEM(leaf), now.Add(2*time.Hour))
	wantCode(t, err, reason.BadSignature)

	// Fill past the bound with distinct byte strings of one genuine
	// certificate (trailing whitespace is allowed after the PEM block).
	base := CertPEM(pki.Sign)
	for i := 0; i < maxCachedCerts+5; i++ {
		if _, err := v.signingKey(base+strings.Repeat("\n", i), now); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cachedCount(); n != maxCachedCerts {
		t.Fatalf("%d cached, want the bound %d", n, maxCachedCerts)
	}
}

func TestCertOwner(t *testing.T) {
	good := map[string]string{
		"041@Z2014-11-11@700000000000001:SIGN@00000003": "700000000000001:SIGN",
		"a@b@" + Owner:          Owner,
		"a@b@" + Owner + "@c@d": Owner,
		"@@":                    "",
	}
	for cn, want := range good {
		if got, err := CertOwner(cn); err != nil || got != want {
			t.Errorf("CertOwner(%q) = %q, %v; want %q", cn, got, err, want)
		}
	}
	for _, cn := range []string{"", "a", "a@b", Owner, "@" + Owner} {
		if got, err := CertOwner(cn); err == nil {
			t.Errorf("CertOwner(%q) = %q, want an error", cn, got)
		}
	}
}

func TestConfiguredCAFiles(t *testing.T) {
	pki, _ := pkis(t)
	if _, err := newChainVerifier([]byte(CertPEM(pki.Sign)), []byte(CertPEM(pki.Middle))); err == nil || !strings.Contains(err.Error(), "root_cert_file") {
		t.Fatalf("a leaf as root: %v", err)
	}
	if _, err := newChainVerifier([]byte(CertPEM(pki.Root)), []byte("junk")); err == nil || !strings.Contains(err.Error(), "middle_cert_file") {
		t.Fatalf("junk middle: %v", err)
	}
	// Binary DER, as some .cer files are.
	v, err := newChainVerifier(pki.Root.Raw, pki.Middle.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.signingKey(CertPEM(pki.Sign), time.Now()); err != nil {
		t.Fatal(err)
	}
}
