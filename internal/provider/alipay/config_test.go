package alipay

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func certModeConfig(t testing.TB) Config {
	k := getPKI(t)
	prod := vector(t, "root_cert_sn_production_root_bundle")
	// The production bundle (with its SM2 root that Go cannot parse) plus
	// the test root.
	root := append([]byte(prod.CertPEM+"\n"), certPEM(k.root)...)
	return Config{
		AppID:      testAppID,
		Cert:       append(certPEM(k.alipayCert), certPEM(k.inter)...),
		RootCert:   root,
		PrivateKey: providertest.PrivatePEM(t, appKey),
		AppCert:    certPEM(k.appCert),
		Now:        fixedClock(clockInPKI),
	}
}

func TestNewConfigErrors(t *testing.T) {
	testKeys(t)
	k := getPKI(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})
	pub := providertest.PublicPEM(t, &alipayKey.PublicKey)
	bare := []byte(base64.StdEncoding.EncodeToString(func() []byte { b, _ := x509.MarshalPKIXPublicKey(&alipayKey.PublicKey); return b }()))
	otherRoot := issue(t, caTemplate(9, "Someone Else Root"), caTemplate(9, "Someone Else Root"), &appKey.PublicKey, appKey)

	cases := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"app_id missing", func(c *Config) { c.AppID = " " }, "app_id is required"},
		{"ECDSA public key", func(c *Config) { c.PublicKey = ecPEM }, "public_key: key is ECDSA, not RSA"},
		{"garbage public key", func(c *Config) { c.PublicKey = []byte("not a key") }, "public_key: "},
		{"no key at all", func(c *Config) { c.PublicKey = nil }, "either public_key or cert_file+root_cert_file is required"},
		{"both modes", func(c *Config) { c.Cert = certPEM(k.alipayCert) }, "either public_key or cert_file+root_cert_file, not both"},
		{"cert without root", func(c *Config) { c.PublicKey = nil; c.Cert = certPEM(k.alipayCert) }, "root_cert_file is required with cert_file"},
		{"root without cert", func(c *Config) { c.PublicKey = nil; c.RootCert = certPEM(k.root) }, "cert_file is required with root_cert_file"},
		{"sign_type unknown", func(c *Config) { c.SignType = "RSA3" }, "sign_type must be RSA2 or RSA"},
		{"mode unknown", func(c *Config) { c.Mode = "sync" }, "mode must be notify or return"},
		{"bad private key", func(c *Config) { c.PrivateKey = pub }, "private_key: "},
		{"app cert in public-key mode", func(c *Config) { c.AppCert = certPEM(k.appCert) }, "app_cert_file is only used in certificate mode"},
		{"endpoint not http", func(c *Config) { c.Endpoint = "ftp://example.com/gateway.do" }, "endpoint"},
		{"cert not chaining to root", func(c *Config) {
			c.PublicKey = nil
			c.Cert = append(certPEM(k.alipayCert), certPEM(k.inter)...)
			c.RootCert = certPEM(otherRoot)
			c.Now = fixedClock(clockInPKI)
		}, "does not chain"},
		{"intermediate missing", func(c *Config) {
			c.PublicKey = nil
			c.Cert = certPEM(k.alipayCert)
			c.RootCert = certPEM(k.root)
			c.Now = fixedClock(clockInPKI)
		}, "append its intermediate CA"},
		{"expired cert", func(c *Config) {
			c.PublicKey = nil
			c.Cert = append(certPEM(k.alipayCert), certPEM(k.inter)...)
			c.RootCert = certPEM(k.root)
			c.Now = fixedClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
		}, "expired"},
		{"root bundle empty", func(c *Config) {
			c.PublicKey = nil
			c.Cert = certPEM(k.alipayCert)
			c.RootCert = []byte("nothing here")
		}, "root_cert_file: no PEM certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{AppID: testAppID, PublicKey: pub}
			c.mut(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), string(bare[40:80])) {
				t.Fatal("error echoes key material")
			}
		})
	}
	// Cert-mode query errors.
	for name, mut := range map[string]func(*Config){
		"query without app cert": func(c *Config) { c.AppCert = nil },
		"app cert of another key": func(c *Config) {
			c.AppCert = certPEM(issue(t, leafTemplate(big.NewInt(5), "x"), k.root, &otherKey.PublicKey, rKey))
		},
		"app cert without private key": func(c *Config) { c.PrivateKey = nil },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := certModeConfig(t)
			mut(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "app_cert_file") {
				t.Fatalf("err %v", err)
			}
		})
	}
	// Bare base64 DER, as Alipay's console shows it, is accepted.
	if _, err := New(Config{AppID: testAppID, PublicKey: bare}); err != nil {
		t.Fatal(err)
	}
}

func TestDefaults(t *testing.T) {
	p := newProvider(t, nil)
	if p.Name() != "alipay" || p.signType != "RSA2" || p.mode != ModeNotify || p.endpoint != DefaultEndpoint || p.CanQuery() {
		t.Fatalf("%+v", p)
	}
	if tr := p.Traits(); tr.Method != http.MethodPost || tr.Passthrough {
		t.Fatalf("%+v", tr)
	}
	if provider.ClientTimeout(p.client) != 3*time.Second || p.client.CheckRedirect == nil {
		t.Fatal("default client")
	}
	if !newProvider(t, func(c *Config) { c.PrivateKey = providertest.PrivatePEM(t, appKey) }).CanQuery() {
		t.Fatal("CanQuery with a private key")
	}
}

func TestCertMode(t *testing.T) {
	k := getPKI(t)
	cfg := certModeConfig(t)
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.certSN != CertSN(k.alipayCert) || p.appCertSN != CertSN(k.appCert) {
		t.Fatal("SNs")
	}
	prodSN := vector(t, "root_cert_sn_production_root_bundle").ExpectedSN
	if p.rootCertSN != prodSN+"_"+CertSN(k.root) {
		t.Fatalf("root SN %s", p.rootCertSN)
	}
	ps := sampleParams()
	delete(ps, "seller_id")
	// Without alipay_cert_sn: the configured certificate's key.
	if _, err := p.VerifyNotify(&provider.Request{Body: sign(t, &Signer{Key: alipayKey}, ps)}); err != nil {
		t.Fatal(err)
	}
	// With the right SN (signed, as Java's V1 signs every parameter).
	ps["alipay_cert_sn"] = p.certSN
	v, err := p.VerifyNotify(&provider.Request{Body: sign(t, &Signer{Key: alipayKey}, ps)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Notification.Fields()["alipay_cert_sn"] != p.certSN {
		t.Fatal("raw alipay_cert_sn")
	}
	// An unknown SN is unknown_key, whatever the signature.
	ps["alipay_cert_sn"] = "0123456789abcdef0123456789abcdef"
	_, err = p.VerifyNotify(&provider.Request{Body: sign(t, &Signer{Key: alipayKey}, ps)})
	code(t, err, reason.UnknownKey)
	// Another key with the right SN: bad_signature.
	ps["alipay_cert_sn"] = p.certSN
	_, err = p.VerifyNotify(&provider.Request{Body: sign(t, &Signer{Key: otherKey}, ps)})
	code(t, err, reason.BadSignature)
}

// CertSN follows Java's X500Principal.getName() (RFC 2253), not Go's
// pkix.Name.String(), where the two differ.
func TestCertSNJavaDN(t *testing.T) {
	testKeys(t)
	str := func(tag int, s string) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(s)}
	}
	type atv struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	rdn := func(oid asn1.ObjectIdentifier, v asn1.RawValue) []atv { return []atv{{oid, v}} }
	type rdnSET []atv
	name := []rdnSET{
		rdnSET(rdn(asn1.ObjectIdentifier{2, 5, 4, 6}, str(asn1.TagPrintableString, "CN"))),
		rdnSET(rdn(asn1.ObjectIdentifier{2, 5, 4, 10}, str(asn1.TagUTF8String, "A=B#C, Ltd;<x>"))),
		rdnSET(rdn(asn1.ObjectIdentifier{2, 5, 4, 11}, str(asn1.TagUTF8String, " pad "))),
		rdnSET{
			{asn1.ObjectIdentifier{2, 5, 4, 3}, str(asn1.TagUTF8String, "测试 CA")},
			{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, str(asn1.TagUTF8String, "uid1")},
		},
		rdnSET(rdn(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, str(asn1.TagIA5String, "ca@example.com"))),
		rdnSET(rdn(asn1.ObjectIdentifier{2, 5, 4, 5}, str(asn1.TagPrintableString, "123"))),
		// A keyword type whose value Java does not count as a directory
		// string (NumericString, which Go parses): hex, as for OIDs.
		rdnSET(rdn(asn1.ObjectIdentifier{2, 5, 4, 7}, str(asn1.TagNumericString, "5"))),
	}
	rawName, err := asn1.Marshal(name)
	if err != nil {
		t.Fatal(err)
	}
	ca := caTemplate(3, "unused")
	ca.RawSubject = rawName
	caCert := issue(t, ca, ca, &rKey.PublicKey, rKey)
	leaf := issue(t, leafTemplate(big.NewInt(4242), "leaf"), caCert, &alipayKey.PublicKey, rKey)

	want := `L=#120135,` +
		`2.5.4.5=#1303313233,` +
		`1.2.840.113549.1.9.1=#160e6361406578616d706c652e636f6d,` +
		`CN=测试 CA+UID=uid1,` +
		`OU=\ pad\ ,` +
		`O=A\=B\#C\, Ltd\;\<x\>,` +
		`C=CN`
	got, err := javaRFC2253(leaf.RawIssuer)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("DN\n got %s\nwant %s", got, want)
	}
	if leaf.Issuer.String() == want {
		t.Fatal("Go's rendering matches too; the case no longer shows the difference")
	}
	sum := md5.Sum([]byte(want + "4242"))
	if CertSN(leaf) != hex.EncodeToString(sum[:]) {
		t.Fatal("CertSN")
	}
	// And for Ant Financial's plain issuers both renderings agree.
	c := vector(t, "cert_sn_alipay_public_cert_nodejs_fixture")
	b, _ := pem.Decode([]byte(c.CertPEM))
	vc, _ := x509.ParseCertificate(b.Bytes)
	if dn, _ := javaRFC2253(vc.RawIssuer); dn != vc.Issuer.String() {
		t.Fatalf("%s vs %s", dn, vc.Issuer.String())
	}
}

func TestParseRootBundleRejects(t *testing.T) {
	k := getPKI(t)
	// An RSA-signed certificate Go cannot parse would change the root SN:
	// refused rather than skipped. (Corrupt the validity of a real one.)
	der := bytes.Clone(k.root.Raw)
	i := bytes.Index(der, []byte{0x17, 0x0d}) // UTCTime notBefore
	der[i+2] = 'X'
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if _, err := ParseRootBundle(append(certPEM(k.root), bad...)); err == nil || !strings.Contains(err.Error(), "certificate 2") {
		t.Fatalf("err %v", err)
	}
	if _, err := ParseRootBundle(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})); err == nil {
		t.Fatal("junk accepted")
	}
	if got := RootCertSN([]*x509.Certificate{k.root}); got != CertSN(k.root) {
		t.Fatal(got)
	}
	// ECDSA-signed roots do not count.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, _ = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	ecCert, _ := x509.ParseCertificate(der)
	if got := RootCertSN([]*x509.Certificate{ecCert, k.root}); got != CertSN(k.root) {
		t.Fatal(got)
	}
}
