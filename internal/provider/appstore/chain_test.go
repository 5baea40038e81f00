package appstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

func TestEmbeddedAppleRootCAG3(t *testing.T) {
	g3 := AppleRootCAG3()
	sum := sha256.Sum256(g3.Raw)
	if got := hex.EncodeToString(sum[:]); got != "63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179" {
		t.Fatalf("embedded root fingerprint %s is not Apple Root CA - G3's", got)
	}
	if g3.Subject.CommonName != "Apple Root CA - G3" || !g3.IsCA {
		t.Fatalf("embedded root is %q", g3.Subject.CommonName)
	}
	// With no root_cert_file, G3 is the only anchor: the local test chain
	// does not verify.
	f := newFixture(t)
	p, err := New(Config{BundleID: testBundle, Environment: EnvProduction})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	_, err = f.verify(f.notify(t, "ONE_TIME_CHARGE", f.txn(nil)))
	wantCode(t, err, reason.BadSignature)
}

// chainNotify signs a genuine-looking notification with key, presenting
// certs as x5c.
func (f *fixture) chainNotify(t *testing.T, key *ecdsa.PrivateKey, certs ...*x509.Certificate) error {
	t.Helper()
	s := appleSigner{key: key, x5c: x5cOf(certs...)}
	jws, err := s.sign(f.payload("TEST", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.verify(body(t, jws))
	return err
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustIssue(t *testing.T, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	c, err := issue(tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChainFailures(t *testing.T) {
	f := newFixture(t)
	pki := f.pki
	if err := f.chainNotify(t, pki.leafKey, pki.leaf, pki.inter, pki.root); err != nil {
		t.Fatalf("genuine chain: %v", err)
	}
	stranger, err := newTestPKI(f.now)
	if err != nil {
		t.Fatal(err)
	}
	nb, na := f.now.Add(-time.Hour), f.now.Add(time.Hour)
	leafKey := newKey(t)
	leafFrom := func(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) *x509.Certificate {
		return mustIssue(t, tmpl, parent, &leafKey.PublicKey, parentKey)
	}
	plainLeaf := leafTemplate("no marker", nb, na)
	plainLeaf.ExtraExtensions = nil
	interKey := newKey(t)
	plainInterTmpl := caTemplate("no marker", nb, na, 0)
	plainInter := mustIssue(t, plainInterTmpl, pki.root, &interKey.PublicKey, pki.rootKey)
	notCATmpl := leafTemplate("not a CA", nb, na)
	notCATmpl.ExtraExtensions = append(notCATmpl.ExtraExtensions, pkix.Extension{Id: oidWWDRIntermediate, Value: markerNull})
	notCA := mustIssue(t, notCATmpl, pki.root, &interKey.PublicKey, pki.rootKey)
	forged, forgedKey, err := forgedLeaf(f.now)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	leafP384 := mustIssue(t, leafTemplate("P-384 leaf", nb, na), pki.inter, &p384.PublicKey, pki.interKey)

	// Each case names the check that must refuse it, so a case refused
	// for an unrelated reason does not pass by accident.
	for name, c := range map[string]struct {
		key   *ecdsa.PrivateKey
		certs []*x509.Certificate
		why   string
	}{
		"one certificate":                {pki.leafKey, []*x509.Certificate{pki.leaf}, "not 3"},
		"two certificates":               {pki.leafKey, []*x509.Certificate{pki.leaf, pki.inter}, "not 3"},
		"four certificates":              {pki.leafKey, []*x509.Certificate{pki.leaf, pki.inter, pki.root, pki.root}, "not 3"},
		"a stranger's whole chain":       {stranger.leafKey, []*x509.Certificate{stranger.leaf, stranger.inter, stranger.root}, "unknown authority"},
		"stranger's chain, pinned root":  {stranger.leafKey, []*x509.Certificate{stranger.leaf, stranger.inter, pki.root}, "unknown authority"},
		"genuine leaf, other inter":      {pki.leafKey, []*x509.Certificate{pki.leaf, stranger.inter, pki.root}, "unknown authority"},
		"leaf signed by the root itself": {leafKey, []*x509.Certificate{leafFrom(pki.root, pki.rootKey, leafTemplate("direct", nb, na)), pki.inter, pki.root}, "does not run leaf, intermediate, pinned root"},
		"leaf without the marker":        {leafKey, []*x509.Certificate{leafFrom(pki.inter, pki.interKey, plainLeaf), pki.inter, pki.root}, "receipt-signing marker"},
		"intermediate without marker":    {leafKey, []*x509.Certificate{leafFrom(plainInter, interKey, leafTemplate("leaf", nb, na)), plainInter, pki.root}, "WWDR marker"},
		"intermediate is no CA":          {leafKey, []*x509.Certificate{leafFrom(notCA, interKey, leafTemplate("leaf", nb, na)), notCA, pki.root}, "cannot sign"},
		"leaf expired at signedDate":     {leafKey, []*x509.Certificate{leafFrom(pki.inter, pki.interKey, leafTemplate("old", nb.Add(-time.Hour), nb)), pki.inter, pki.root}, "expired"},
		"leaf not yet valid":             {leafKey, []*x509.Certificate{leafFrom(pki.inter, pki.interKey, leafTemplate("new", na, na.Add(time.Hour))), pki.inter, pki.root}, "not yet valid"},
		"leaf key is not P-256":          {pki.leafKey, []*x509.Certificate{leafP384, pki.inter, pki.root}, "not ECDSA P-256"},
		"signed by another key":          {newKey(t), []*x509.Certificate{pki.leaf, pki.inter, pki.root}, "signature does not verify"},
		// The go-pay regression: Apple's genuine intermediate and root
		// behind a self-signed leaf, whose key signs the JWS.
		"forged leaf, genuine inter and root": {forgedKey, []*x509.Certificate{forged, pki.inter, pki.root}, "unknown authority"},
	} {
		t.Run(name, func(t *testing.T) {
			err := f.chainNotify(t, c.key, c.certs...)
			wantCode(t, err, reason.BadSignature)
			if !strings.Contains(err.Error(), c.why) {
				t.Fatalf("refused for %v; want %q", err, c.why)
			}
		})
	}
	// The forged-leaf case is meaningful: the two certificates above the
	// leaf do verify, so a verifier that checks only them accepts it.
	if err := pki.inter.CheckSignatureFrom(pki.root); err != nil {
		t.Fatal(err)
	}
}

func TestX5CEncoding(t *testing.T) {
	f := newFixture(t)
	x5c := f.signer.x5c
	for name, list := range map[string][]any{
		"not base64":      {"!!!", x5c[1], x5c[2]},
		"base64url":       {toURL(x5c[0]), x5c[1], x5c[2]},
		"not a cert":      {"AAAA", x5c[1], x5c[2]},
		"not strings":     {1, 2, 3},
		"empty":           {},
		"root not a cert": {x5c[0], x5c[1], "AAAA"},
	} {
		t.Run(name, func(t *testing.T) {
			jws, err := f.signer.signWithHeader(map[string]any{"alg": "ES256", "x5c": list}, f.payload("TEST", "", nil))
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.verify(body(t, jws))
			wantCode(t, err, reason.BadSignature)
		})
	}
}

// toURL respells a standard base64 entry as base64url, which x5c is not;
// a certificate whose DER has no byte pair mapping to + or / is unchanged,
// so the test makes sure it differs.
func toURL(s string) string {
	out := []byte(s)
	changed := false
	for i, c := range out {
		switch c {
		case '+':
			out[i], changed = '-', true
		case '/':
			out[i], changed = '_', true
		}
	}
	if !changed {
		return s + "-"
	}
	return string(out)
}

// The chain holds at signedDate, as in Apple's libraries: a notification
// Apple signed while its leaf was valid still verifies after the leaf
// expired. The pipeline's max_age bounds how old signedDate may be.
func TestChainCheckedAtSignedDate(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	signedAt := f.now.Add(-48 * time.Hour)
	// A chain valid from an hour before signedAt, its leaf for two hours.
	pki, err := newTestPKI(signedAt)
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustIssue(t, leafTemplate("expired since", signedAt.Add(-time.Hour), signedAt.Add(time.Hour)), pki.inter, &key.PublicKey, pki.interKey)
	p, err := New(Config{BundleID: testBundle, Environment: EnvProduction, Roots: []*x509.Certificate{pki.root}})
	if err != nil {
		t.Fatal(err)
	}
	s := appleSigner{key: key, x5c: x5cOf(leaf, pki.inter, pki.root)}
	old := f.payload("TEST", "", map[string]any{"signedDate": signedAt.UnixMilli()})
	f.p = p
	v, err := f.verify(body(t, mustSign(t, s, old)))
	if err != nil {
		t.Fatalf("signed while valid: %v", err)
	}
	if !v.EventTime.Equal(signedAt) {
		t.Fatalf("EventTime %v, want %v", v.EventTime, signedAt)
	}
	// The same leaf signing "now" is refused: it has expired.
	_, err = f.verify(body(t, mustSign(t, s, f.payload("TEST", "", nil))))
	wantCode(t, err, reason.BadSignature)
}

func mustSign(t *testing.T, s appleSigner, payload any) string {
	t.Helper()
	jws, err := s.sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// A remembered chain is still checked against the time: it is valid
// only inside every certificate's validity, and only with the roots of
// the verifier that checked it.
func TestVerifiedChainsRemembered(t *testing.T) {
	f := newFixture(t)
	cv := newChainVerifier([]*x509.Certificate{f.pki.root})
	certs := []*x509.Certificate{f.pki.leaf, f.pki.inter, f.pki.root}
	if err := cv.verify(certs, f.now); err != nil {
		t.Fatal(err)
	}
	if !cv.remembered(chainKey(f.pki.leaf, f.pki.inter), f.now) {
		t.Fatal("verified chain not remembered")
	}
	for name, at := range map[string]time.Time{
		"before": f.now.Add(-2 * time.Hour), "after": f.now.Add(sandboxCertLifetime + time.Hour),
	} {
		if err := cv.verify(certs, at); err == nil || !strings.Contains(err.Error(), "expired or is not yet valid") {
			t.Errorf("%s the validity: %v", name, err)
		}
	}
	stranger, err := newTestPKI(f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := newChainVerifier([]*x509.Certificate{stranger.root}).verify(certs, f.now); err == nil {
		t.Fatal("another verifier's roots accepted a chain remembered elsewhere")
	}
	for i := 0; i <= maxVerifiedChains; i++ {
		cv.remember(sha256.Sum256([]byte{byte(i), byte(i >> 8)}), certs)
	}
	if len(cv.verified) > maxVerifiedChains {
		t.Fatalf("%d chains remembered", len(cv.verified))
	}
}
