// Package keys parses the key material operators paste from provider
// consoles: PEM, or the bare base64 DER that consoles show (Alipay's shows
// its public key that way). Keys are parsed once at provision, never per
// request. Errors never echo key material.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// derBlocks returns the DER blocks of data: every PEM block, or the bare
// base64 DER when data holds no PEM.
func derBlocks(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) > 0 {
		return blocks, nil
	}
	s := strings.Join(strings.Fields(string(data)), "")
	if s == "" {
		return nil, errors.New("empty key")
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("neither PEM nor base64 DER")
	}
	return []*pem.Block{{Type: "", Bytes: der}}, nil
}

// ParsePublicKey reads a public key: SPKI ("PUBLIC KEY"), PKCS#1 ("RSA
// PUBLIC KEY"), or the key of a certificate, as PEM or bare base64 DER.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	blocks, err := derBlocks(data)
	if err != nil {
		return nil, err
	}
	der := blocks[0].Bytes
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		return c.PublicKey, nil
	}
	return nil, errors.New("not a public key or certificate")
}

// ParseRSAPublicKey is ParsePublicKey restricted to RSA keys of at least
// 2048 bits (1024-bit keys are refused: no provider issues them any more).
func ParseRSAPublicKey(data []byte) (*rsa.PublicKey, error) {
	k, err := ParsePublicKey(data)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key is %s, not RSA", keyKind(k))
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key has %d bits, fewer than 2048", rk.N.BitLen())
	}
	return rk, nil
}

// ParsePrivateKey reads a private key: PKCS#8, PKCS#1 or SEC 1, as PEM or
// bare base64 DER.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	blocks, err := derBlocks(data)
	if err != nil {
		return nil, err
	}
	der := blocks[0].Bytes
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("unsupported private key type")
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC 1 private key")
}

// ParseRSAPrivateKey is ParsePrivateKey restricted to RSA.
func ParseRSAPrivateKey(data []byte) (*rsa.PrivateKey, error) {
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %s, not RSA", keyKind(k.Public()))
	}
	return rk, nil
}

// ParseCertificates reads every certificate in data (PEM, several allowed,
// or one bare base64 DER certificate).
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	blocks, err := derBlocks(data)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, b := range blocks {
		if b.Type != "" && b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	return certs, nil
}

func keyKind(k any) string {
	switch k.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}
