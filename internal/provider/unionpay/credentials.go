package unionpay

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/payguard/payguard/internal/keys"
)

// loadMerchantKey reads the query credentials: the PKCS#12 signing
// certificate with its password (certId is its serial), or a PEM key with
// an explicit cert_id. Neither: no query. Errors never echo key material
// or the password.
func (p *Provider) loadMerchantKey(cfg Config, warn func(string)) error {
	hasP12 := len(cfg.SignCert) > 0 || len(cfg.SignCertPassword) > 0
	hasPEM := len(cfg.PrivateKey) > 0 || cfg.CertID != ""
	switch {
	case hasP12 && hasPEM:
		return errors.New("query: either sign_cert_file with sign_cert_password, or private_key with cert_id, not both")
	case hasP12:
		if len(cfg.SignCert) == 0 || len(cfg.SignCertPassword) == 0 {
			return errors.New("query: sign_cert_file and sign_cert_password go together")
		}
		key, cert, err := DecodePKCS12(cfg.SignCert, string(cfg.SignCertPassword))
		if err != nil {
			return fmt.Errorf("query: sign_cert_file: %v", err)
		}
		if cert.NotAfter.Sub(p.now()) < expiryWarning {
			warn(fmt.Sprintf("unionpay: the merchant signing certificate (certId %s) expires %s", CertID(cert), cert.NotAfter.UTC().Format(time.RFC3339)))
		}
		p.signKey, p.certID = key, CertID(cert)
	case hasPEM:
		if len(cfg.PrivateKey) == 0 || cfg.CertID == "" {
			return errors.New("query: private_key and cert_id go together")
		}
		if err := CheckCertID([]byte(cfg.CertID)); err != nil {
			return fmt.Errorf("query: cert_id: %v", err)
		}
		key, err := keys.ParseRSAPrivateKey(cfg.PrivateKey)
		if err != nil {
			return fmt.Errorf("query: private_key: %v", err)
		}
		if key.N.BitLen() < minRSABits {
			return fmt.Errorf("query: private_key: RSA key has %d bits, fewer than %d", key.N.BitLen(), minRSABits)
		}
		p.signKey, p.certID = key, cfg.CertID
	}
	return nil
}

// DecodePKCS12 reads a merchant's PKCS#12 signing certificate: an RSA key
// of at least 2048 bits and the certificate of that key (any CA
// certificates in the file are ignored). UnionPay's .pfx files use the
// legacy 3DES/RC2 encryption; files re-exported by OpenSSL 3 use AES
// (PBES2): both are read.
func DecodePKCS12(pfx []byte, password string) (*rsa.PrivateKey, *x509.Certificate, error) {
	k, cert, _, err := pkcs12.DecodeChain(pfx, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, nil, errors.New("wrong password (a password file must not end with a newline)")
		}
		return nil, nil, errors.New("not a PKCS#12 file with one key and its certificate")
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the key is not RSA")
	}
	if key.N.BitLen() < minRSABits {
		return nil, nil, fmt.Errorf("RSA key has %d bits, fewer than %d", key.N.BitLen(), minRSABits)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, errors.New("the certificate is not the key's")
	}
	return key, cert, nil
}

// CheckCertID checks a certId: a certificate serial in decimal.
func CheckCertID(b []byte) error {
	if len(b) > 50 || !isDigits(string(b)) {
		return errors.New("must be the signing certificate's serial number in decimal (1 to 50 digits)")
	}
	return nil
}
