package unionpay

import (
	"testing"
	"time"
)

// BenchmarkVerifyNotify is the cost of one genuine notification once its
// certificate is cached (the steady state): form parsing, the double hash
// and one RSA-2048 verification.
func BenchmarkVerifyNotify(b *testing.B) {
	p := newProvider(b, nil)
	now := time.Now()
	body := genuine(b, sampleParams(now))
	if _, err := verify(p, body, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := verify(p, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyNotifyColdCert adds the chain check of an uncached
// certificate: what every distinct signPubKeyCert costs once.
func BenchmarkVerifyNotifyColdCert(b *testing.B) {
	p := newProvider(b, nil)
	now := time.Now()
	body := genuine(b, sampleParams(now))
	b.ReportAllocs()
	for b.Loop() {
		p.certs.mu.Lock()
		clear(p.certs.cache)
		p.certs.order = p.certs.order[:0]
		p.certs.mu.Unlock()
		if _, err := verify(p, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
