package appstore

import (
	"testing"

	"github.com/payguard/payguard/internal/provider"
)

// BenchmarkVerifyNotify: one notification with its nested transaction
// (two JWS, two chains).
func BenchmarkVerifyNotify(b *testing.B) {
	f := newFixture(b)
	txn := f.signer.mustSign(f.txn(nil))
	body := mustBody(f.signer.mustSign(f.payload("ONE_TIME_CHARGE", txn, nil)))
	req := &provider.Request{Method: "POST", Body: body, Now: f.now}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.p.VerifyNotify(req); err != nil {
			b.Fatal(err)
		}
	}
}
