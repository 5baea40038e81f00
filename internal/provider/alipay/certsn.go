package alipay

import (
	"crypto/md5"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// CertSN is Alipay's serial number for a certificate: the lower-hex MD5 of
// the issuer DN in Java's RFC 2253 form followed by the decimal serial
// number. It is what `alipay_cert_sn` (Alipay's certificate) and
// `app_cert_sn` (the app's certificate) carry.
//
// The DN is rendered from the certificate's raw issuer bytes the way Java's
// X500Principal.getName() does (the Alipay SDKs compute the SN in Java), not
// with Go's pkix.Name.String(): the two agree for Ant Financial's issuers but
// differ in escaping ('=' and '#'), in which attribute types get a keyword,
// and in the hex of unknown attributes, and a wrong SN means every request
// and notification is refused.
func CertSN(cert *x509.Certificate) string {
	dn, err := javaRFC2253(cert.RawIssuer)
	if err != nil {
		// x509.ParseCertificate already parsed this DN, so this does not
		// happen; Go's rendering is the closest fallback.
		dn = cert.Issuer.String()
	}
	sum := md5.Sum([]byte(dn + cert.SerialNumber.String()))
	return hex.EncodeToString(sum[:])
}

// RootCertSN is `alipay_root_cert_sn` for a root bundle: the CertSN of every
// certificate whose signature algorithm OID starts with 1.2.840.113549.1.1
// (RSA; the bundle also holds SM2 and ECDSA roots), joined with '_' in bundle
// order. The textual prefix test mirrors the Java SDK's exactly.
func RootCertSN(bundle []*x509.Certificate) string {
	var sns []string
	for _, c := range bundle {
		oid, err := signatureOID(c.Raw)
		if err != nil || !strings.HasPrefix(oid.String(), rsaSignatureOIDPrefix) {
			continue
		}
		sns = append(sns, CertSN(c))
	}
	return strings.Join(sns, "_")
}

const rsaSignatureOIDPrefix = "1.2.840.113549.1.1"

// ParseRootBundle reads alipayRootCert.crt: a PEM bundle whose first
// certificate is an SM2 root that Go cannot parse. Certificates Go cannot
// parse are skipped when their signature algorithm is not RSA (Java skips
// them for the root SN too, and they cannot anchor an RSA chain here); an
// unparseable RSA-signed certificate is an error, since skipping it would
// change the root SN. At least one certificate must remain.
func ParseRootBundle(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		c, err := x509.ParseCertificate(b.Bytes)
		if err == nil {
			certs = append(certs, c)
			continue
		}
		oid, oerr := signatureOID(b.Bytes)
		if oerr != nil {
			return nil, fmt.Errorf("certificate %d: not a certificate", n)
		}
		if strings.HasPrefix(oid.String(), rsaSignatureOIDPrefix) {
			return nil, fmt.Errorf("certificate %d: %v", n, err)
		}
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	if len(certs) == 0 {
		return nil, errors.New("no usable certificate in the bundle")
	}
	return certs, nil
}

// signatureOID reads the outer signatureAlgorithm of a DER certificate
// without parsing the rest, so it works for certificates Go refuses.
func signatureOID(der []byte) (asn1.ObjectIdentifier, error) {
	var c struct {
		TBS    asn1.RawValue
		SigAlg pkix.AlgorithmIdentifier
		Sig    asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &c)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after certificate")
	}
	return c.SigAlg.Algorithm, nil
}

// rawATV and rawRDNSET keep each attribute value's DER tag and bytes, which
// pkix.Name throws away. The SET suffix makes encoding/asn1 expect a SET OF.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rawRDNSET []rawATV

// java2253Keywords are the attribute types Java's RFC 2253 output names by
// keyword (sun.security.x509.AVAKeyword entries flagged RFC 2253 compliant).
// Every other type is printed as its dotted OID with a hex value. Go's table
// differs: it also names SERIALNUMBER and POSTALCODE but not DC and UID.
var java2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// javaRFC2253 renders a DER Name as Java's X500Principal.getName() does:
// RDNs last to first, joined by ','; multi-valued RDNs joined by '+' in
// encoded order; a keyword type with a directory-string value prints the
// value's bytes read as UTF-8 with ",=+<>#;\"\\" backslash-escaped, NUL as
// \00, leading and trailing spaces/CRs backslash-escaped; anything else
// prints '#' and the lower-hex DER of the value.
func javaRFC2253(der []byte) (string, error) {
	var rdns []rawRDNSET
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil {
		return "", err
	}
	if len(rest) != 0 {
		return "", errors.New("trailing data after name")
	}
	var sb strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			sb.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				sb.WriteByte('+')
			}
			writeJavaATV(&sb, atv)
		}
	}
	return sb.String(), nil
}

func writeJavaATV(sb *strings.Builder, atv rawATV) {
	kw, known := java2253Keywords[atv.Type.String()]
	if !known {
		kw = atv.Type.String()
	}
	sb.WriteString(kw)
	sb.WriteByte('=')
	if !known || !javaDirectoryString(atv.Value) {
		sb.WriteByte('#')
		sb.WriteString(hex.EncodeToString(atv.Value.FullBytes))
		return
	}
	// Java decodes the value bytes as UTF-8 whatever the string type.
	var chars []rune
	for b := atv.Value.Bytes; len(b) > 0; {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case strings.ContainsRune(",=+<>#;\"\\", r):
			chars = append(chars, '\\', r)
		case r == 0:
			chars = append(chars, '\\', '0', '0')
		default:
			chars = append(chars, r)
		}
	}
	lead := 0
	for lead < len(chars) && (chars[lead] == ' ' || chars[lead] == '\r') {
		lead++
	}
	trail := len(chars) - 1
	for trail >= 0 && (chars[trail] == ' ' || chars[trail] == '\r') {
		trail--
	}
	for i, r := range chars {
		if i < lead || i > trail {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
}

// javaDirectoryString mirrors sun.security.x509.AVA.isDerString(v, false).
func javaDirectoryString(v asn1.RawValue) bool {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String,
		asn1.TagGeneralString, asn1.TagBMPString, asn1.TagUTF8String:
		return true
	}
	return false
}
