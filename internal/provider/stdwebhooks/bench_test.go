package stdwebhooks

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// BenchmarkVerifyNotify measures one notification, signature to mapped
// fields, for each scheme.
func BenchmarkVerifyNotify(b *testing.B) {
	now := time.Now()
	run := func(name string, p *Provider, v1a bool) {
		req := signedV1([][]byte{testSecret}, "msg_1", now, paidBody)
		if v1a {
			req = signedV1a([]ed25519.PrivateKey{testPriv}, "msg_1", now, paidBody)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.VerifyNotify(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("v1", newProvider(b, Config{Secrets: [][]byte{testSecret}}), false)
	run("v1a", newProvider(b, Config{PublicKeys: []ed25519.PublicKey{testPub}}), true)
}
