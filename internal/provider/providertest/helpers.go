package providertest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/payguard/payguard/internal/sandbox"
)

var (
	rsaMu   sync.Mutex
	rsaKeys []*rsa.PrivateKey
)

// RSAKeys returns n distinct RSA-2048 keys, generated once per test
// binary (each costs tenths of a second): every call gets the same keys at
// the same indexes.
func RSAKeys(t testing.TB, n int) []*rsa.PrivateKey {
	t.Helper()
	rsaMu.Lock()
	defer rsaMu.Unlock()
	for len(rsaKeys) < n {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaKeys = append(rsaKeys, k)
	}
	return rsaKeys[:n:n]
}

// PublicPEM is k as a PEM "PUBLIC KEY" (PKIX).
func PublicPEM(t testing.TB, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	return encodePEM(t, "PUBLIC KEY", der, err)
}

// PrivatePEM is k as a PEM "PRIVATE KEY" (PKCS #8).
func PrivatePEM(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	return encodePEM(t, "PRIVATE KEY", der, err)
}

func encodePEM(t testing.TB, typ string, der []byte, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// Serve mounts a provider's sandbox on a fresh order book and serves it
// until the test ends: its query API at the server's URL.
func Serve(t testing.TB, sb interface {
	Mount(*http.ServeMux, *sandbox.OrderBook)
}) (*sandbox.OrderBook, *httptest.Server) {
	t.Helper()
	book := sandbox.NewOrderBook()
	mux := http.NewServeMux()
	sb.Mount(mux, book)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return book, srv
}
