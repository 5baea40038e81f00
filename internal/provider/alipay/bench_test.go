package alipay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
)

// BenchmarkVerifyNotify is the whole per-notification cost on Alipay's own
// notification (real key, 2048 bits, 25 fields): strict parse, checks, one
// RSA-SHA256 verification, transcoding and normalization. Compare with
// BenchmarkRSAVerifyPrimitive for the overhead around the RSA operation.
func BenchmarkVerifyNotify(b *testing.B) {
	c := vector(b, "notify_trade_status_sync_public_key_mode")
	p := vectorProvider(b, c)
	req := &provider.Request{Method: "POST", Body: []byte(c.FormBody)}
	b.SetBytes(int64(len(c.FormBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyNotify(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSAVerifyPrimitive is the bare rsa.VerifyPKCS1v15 of the same
// notification with the same key, digest precomputed.
func BenchmarkRSAVerifyPrimitive(b *testing.B) {
	c := vector(b, "notify_trade_status_sync_public_key_mode")
	pub, err := keys.ParseRSAPublicKey([]byte(c.AlipayPublicKey))
	if err != nil {
		b.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(c.Params["sign"])
	d := sha256.Sum256([]byte(c.SignedContent))
	b.ReportAllocs()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseForm is the strict parser alone on the same body.
func BenchmarkParseForm(b *testing.B) {
	c := vector(b, "notify_trade_status_sync_public_key_mode")
	body := []byte(c.FormBody)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseForm(body); err != nil {
			b.Fatal(err)
		}
	}
}
