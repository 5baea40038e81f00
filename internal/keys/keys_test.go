package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

func TestParseRSAKeysInEveryForm(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pkcs1 := x509.MarshalPKCS1PublicKey(&priv.PublicKey)
	forms := map[string][]byte{
		"spki pem":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}),
		"pkcs1 pem":   pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
		"bare base64": []byte(base64.StdEncoding.EncodeToString(spki)),
		"wrapped b64": []byte(" " + base64.StdEncoding.EncodeToString(spki)[:40] + "\n" + base64.StdEncoding.EncodeToString(spki)[40:] + "\n"),
	}
	for name, data := range forms {
		k, err := ParseRSAPublicKey(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !k.Equal(&priv.PublicKey) {
			t.Fatalf("%s: wrong key", name)
		}
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	for name, data := range map[string][]byte{
		"pkcs8 pem":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		"pkcs1 pem":   pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}),
		"pkcs8 bare":  []byte(base64.StdEncoding.EncodeToString(p8)),
		"pkcs1 bare ": []byte(base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(priv))),
	} {
		k, err := ParseRSAPrivateKey(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !k.Equal(priv) {
			t.Fatalf("%s: wrong key", name)
		}
	}
}

func TestParseRejects(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":   {nil, "empty"},
		"garbage": {[]byte("not a key at all!"), "neither PEM"},
		"ec":      {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), "not RSA"},
		"1024":    {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER}), "fewer than 2048"},
		"b64junk": {[]byte(base64.StdEncoding.EncodeToString([]byte("hello"))), "not a public key"},
	}
	for name, c := range cases {
		_, err := ParseRSAPublicKey(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	if _, err := ParseRSAPrivateKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Error("broken private key accepted")
	}
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("MIIBIjAN"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParsePublicKey(data)
		_, _ = ParsePrivateKey(data)
		_, _ = ParseCertificates(data)
	})
}
