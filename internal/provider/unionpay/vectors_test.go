package unionpay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// vectorCase is one case of testdata/unionpay.json (a copy of
// shared/vectors/unionpay.json).
type vectorCase struct {
	Name              string            `json:"name"`
	Params            map[string]string `json:"params"`
	SigningString     string            `json:"signing_string"`
	SHA256Hex         string            `json:"sha256_hex_of_signing_string"`
	ExpectedSignature string            `json:"expected_signature"`
	CertPEM           string            `json:"cert_pem"`
	MiddlePEM         string            `json:"middle_cert_pem"`
	RootPEM           string            `json:"root_cert_pem"`
	CertCN            string            `json:"cert_cn"`
	CertID            string            `json:"cert_id"`
	VerifyTime        time.Time         `json:"verify_time"`
}

func loadVectors(t *testing.T) map[string]vectorCase {
	return providertest.VectorsByName[vectorCase](t, "unionpay.json")
}

func vectorKey(t *testing.T, certPEM string) (*x509.Certificate, *rsa.PublicKey) {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatal("vector cert is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c, c.PublicKey.(*rsa.PublicKey)
}

// TestDerivedVectorSignatureMath checks the signMethod 01 math on the
// derived vector: the signed string, its hex digest, and the signature,
// which verifies only with the double hash.
func TestDerivedVectorSignatureMath(t *testing.T) {
	vc := loadVectors(t)["signmethod01_signature_math_derived"]
	if vc.Params == nil {
		t.Fatal("vector signmethod01_signature_math_derived missing")
	}
	f := formbody.New(len(vc.Params))
	for k, v := range vc.Params {
		if err := f.Add(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	content := signContent(f)
	if string(content) != vc.SigningString {
		t.Fatalf("signed string differs from the vector's:\n got %.120q...\nwant %.120q...", content, vc.SigningString)
	}
	if string(signContentOf(vc.Params)) != vc.SigningString {
		t.Fatal("signContentOf differs from form.signContent")
	}
	inner := sha256.Sum256(content)
	if got := hex.EncodeToString(inner[:]); got != vc.SHA256Hex {
		t.Fatalf("sha256 hex = %s, want %s", got, vc.SHA256Hex)
	}
	sig, err := base64.StdEncoding.DecodeString(vc.Params[fieldSignature])
	if err != nil || vc.Params[fieldSignature] != vc.ExpectedSignature {
		t.Fatal("vector's signature field is not its expected_signature")
	}
	_, pub := vectorKey(t, vc.Params[fieldCert])
	if err := verifySignature(pub, content, sig); err != nil {
		t.Fatalf("derived signature does not verify: %v", err)
	}
	// The single-hash variant (RSA-SHA256 over the content itself) must
	// not verify: it is the mistake the double hash guards against.
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, inner[:], sig) == nil {
		t.Fatal("single-hash variant verifies: the vector does not discriminate")
	}
	tampered := loadVectors(t)["signmethod01_amount_tampered"]
	if verifySignature(pub, signContentOf(tampered.Params), sig) == nil {
		t.Fatal("tampered vector verifies")
	}
}

// TestDerivedVectorThroughVerifyNotify posts the derived vector as a form:
// its signature holds, but its certificate is a merchant's (owner
// 700000000000001:SIGN) on a SHA-1 chain, so VerifyNotify refuses it.
func TestDerivedVectorThroughVerifyNotify(t *testing.T) {
	vecs := loadVectors(t)
	vc, chain := vecs["signmethod01_signature_math_derived"], vecs["test_cert_chain"]
	p, err := New(Config{MerID: vc.Params["merId"], RootCert: []byte(chain.RootPEM), MiddleCert: []byte(chain.MiddlePEM)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify(p, EncodeForm(vc.Params), chain.VerifyTime)
	wantCode(t, err, reason.BadSignature)
	if !strings.Contains(err.Error(), "not to UnionPay") {
		t.Fatalf("refused for %v, want the owner check", err)
	}
}

// TestPublishedTestChain pins the facts of the published chain: its CN's
// owner field is the test merchant's, its certId is its decimal serial,
// and crypto/x509 refuses its SHA-1 links even at a time it was valid.
func TestPublishedTestChain(t *testing.T) {
	vc := loadVectors(t)["test_cert_chain"]
	leaf, _ := vectorKey(t, vc.CertPEM)
	if leaf.Subject.CommonName != vc.CertCN {
		t.Fatalf("CN %q, vector says %q", leaf.Subject.CommonName, vc.CertCN)
	}
	if owner, err := CertOwner(vc.CertCN); err != nil || owner != "700000000000001:SIGN" {
		t.Fatalf("owner %q, %v", owner, err)
	}
	if CertID(leaf) != vc.CertID {
		t.Fatalf("certId %s, want %s", CertID(leaf), vc.CertID)
	}
	v, err := newChainVerifier([]byte(vc.RootPEM), []byte(vc.MiddlePEM))
	if err != nil {
		t.Fatal(err)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: v.middles, CurrentTime: vc.VerifyTime, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err == nil {
		t.Fatal("crypto/x509 accepted a SHA-1 chain")
	}
	if _, err := v.signingKey(vc.CertPEM, vc.VerifyTime); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatalf("signingKey = %v, want bad_signature", err)
	}
}
