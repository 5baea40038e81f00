package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/payguard/payguard/internal/keys"
)

// KeyFile is one file of a provider's sandbox keys.
type KeyFile struct {
	Name string // a plain file name, prefixed with the provider's name
	Data []byte
	Mode os.FileMode // 0600 for private material, 0644 for public
}

// Dir reads a keys directory. Errors name the file, never its content.
type Dir string

// Path is the absolute path of a file in the directory.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// Has reports whether the file exists.
func (d Dir) Has(name string) bool {
	_, err := os.Stat(d.Path(name))
	return err == nil
}

// Present counts how many of names exist; a provider's Load returns
// ErrNoKeys for none and an error for some but not all.
func (d Dir) Present(names ...string) error {
	n := 0
	for _, f := range names {
		if d.Has(f) {
			n++
		}
	}
	switch n {
	case 0:
		return ErrNoKeys
	case len(names):
		return nil
	}
	return fmt.Errorf("%s holds some but not all of %v", string(d), names)
}

// Read reads a file; fs.ErrNotExist stays visible to errors.Is.
func (d Dir) Read(name string) ([]byte, error) {
	b, err := os.ReadFile(d.Path(name))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", d.Path(name), pe.Err)
		}
		return nil, err
	}
	return b, nil
}

// RSAPrivate reads an RSA private key of at least 2048 bits.
func (d Dir) RSAPrivate(name string) (*rsa.PrivateKey, error) {
	b, err := d.Read(name)
	if err != nil {
		return nil, err
	}
	k, err := keys.ParseRSAPrivateKey(b) // its errors never echo key bytes
	if err != nil {
		return nil, fmt.Errorf("%s: %v", d.Path(name), err)
	}
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("%s: RSA key has %d bits, fewer than 2048", d.Path(name), k.N.BitLen())
	}
	return k, nil
}

// RSAPublic reads an RSA public key.
func (d Dir) RSAPublic(name string) (*rsa.PublicKey, error) {
	b, err := d.Read(name)
	if err != nil {
		return nil, err
	}
	k, err := keys.ParseRSAPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", d.Path(name), err)
	}
	return k, nil
}

// RSAPair reads a private key and checks that the public file beside it
// holds its public half, so a mixed-up directory fails here instead of as
// bad_signature later.
func (d Dir) RSAPair(privName, pubName string) (*rsa.PrivateKey, error) {
	priv, err := d.RSAPrivate(privName)
	if err != nil {
		return nil, err
	}
	pub, err := d.RSAPublic(pubName)
	if err != nil {
		return nil, err
	}
	if !pub.Equal(&priv.PublicKey) {
		return nil, fmt.Errorf("%s is not the public half of %s", d.Path(pubName), privName)
	}
	return priv, nil
}

// Secret reads a fixed-length secret file. A trailing newline is an error,
// not trimmed: payguard reads the same file byte for byte.
func (d Dir) Secret(name string, length int) ([]byte, error) {
	b, err := d.Read(name)
	if err != nil {
		return nil, err
	}
	if length > 0 && len(b) != length {
		return nil, fmt.Errorf("%s: must hold exactly %d bytes (no trailing newline), holds %d", d.Path(name), length, len(b))
	}
	return b, nil
}

// NewRSAPair returns a fresh RSA-2048 key as a private (PKCS#8) and a
// public (SPKI) PEM file.
func NewRSAPair(privName, pubName string) (*rsa.PrivateKey, []KeyFile, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	return k, []KeyFile{
		{privName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600},
		{pubName, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644},
	}, nil
}

// RandomSecret is an n-character secret from crypto/rand, letters and
// digits as consoles issue them.
func RandomSecret(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	for i := range b {
		// 256 % 62 leaves a slight bias: irrelevant for a sandbox key.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return b
}
