package wechatpay

import "testing"

// BenchmarkV3VerifyNotify is one full v3 notification: header checks, RSA-2048
// verification, strict JSON, AES-GCM decryption, plaintext and merchant checks.
func BenchmarkV3VerifyNotify(b *testing.B) {
	f := newV3Fixture(b)
	req := f.request(b, f.signer, "TRANSACTION.SUCCESS", sampleTransaction())
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.p.VerifyNotify(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkV2VerifyNotify is one v2 payment notice: strict XML, sign
// (HMAC-SHA256), account and field checks.
func BenchmarkV2VerifyNotify(b *testing.B) {
	p := newV2(b, SignTypeHMACSHA256)
	s := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeHMACSHA256}
	req := v2Req(s.SignNotify(samplePayment()))
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyNotify(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkV2VerifyNotifyForwardOriginal is BenchmarkV2VerifyNotify on a
// route that forwards the original body (the default), which also holds
// the body to plain values.
func BenchmarkV2VerifyNotifyForwardOriginal(b *testing.B) {
	p := newV2(b, SignTypeHMACSHA256)
	s := &V2Signer{APIKey: []byte(testV2Key), SignType: SignTypeHMACSHA256}
	req := v2Req(s.SignNotify(samplePayment()))
	req.ForwardOriginal = true
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyNotify(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkV2VerifyRefundNotify is one v2 refund notice: strict XML twice and
// AES-256-ECB decryption of req_info.
func BenchmarkV2VerifyRefundNotify(b *testing.B) {
	p := newV2(b, "")
	s := &V2Signer{APIKey: []byte(testV2Key)}
	req := v2Req(s.SignRefundNotify(sampleRefundOuter(), sampleRefundInfo()))
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyNotify(req); err != nil {
			b.Fatal(err)
		}
	}
}
