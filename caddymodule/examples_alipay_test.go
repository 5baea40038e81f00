package caddymodule_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider/alipay"
)

// TestAlipayExampleCertificateMode runs examples/alipay/Caddyfile on
// loopback: its sandbox certificate chain holds the sandbox Alipay key, so
// a notification signed with that key is forwarded on the certificate-mode
// route, one naming another certificate is refused as unknown_key, and
// the public-key route verifies the same signature.
func TestAlipayExampleCertificateMode(t *testing.T) {
	inRepoRoot(t)
	const file = "examples/alipay/Caddyfile"
	shop := newRecorder(t)
	port := freePort(t)
	cf := edit(t, file, readExample(t, file), "pay.example.com {", fmt.Sprintf("http://127.0.0.1:%d {", port))
	cf = edit(t, file, cf, "{\n\tpayguard {", "{\n\tadmin off\n\tlog {\n\t\toutput discard\n\t}\n\tpayguard {")
	cf = strings.ReplaceAll(cf, "reverse_proxy 127.0.0.1:9001", "reverse_proxy "+strings.TrimPrefix(shop.srv.URL, "http://"))
	startCaddy(t, cf)

	key, err := keys.ParseRSAPrivateKey([]byte(readExample(t, "examples/keys/alipay_private.pem")))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := keys.ParseCertificates([]byte(readExample(t, "examples/alipay/alipay_cert_public_key_rsa2.crt")))
	if err != nil {
		t.Fatal(err)
	}
	s := &alipay.Signer{Key: key}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	p := notifyParams("ex-cert-1", "example-cert-order-1", "EXC1", "9.99")
	p["alipay_cert_sn"] = alipay.CertSN(certs[0])
	resp, ack := postForm(t, base+"/alipay/cert/notify", mustSign(t, s, p), nil)
	want(t, resp, ack, 200, "forwarded", "success")

	p = notifyParams("ex-cert-2", "example-cert-order-2", "EXC2", "9.99")
	p["alipay_cert_sn"] = "00000000000000000000000000000000"
	resp, ack = postForm(t, base+"/alipay/cert/notify", mustSign(t, s, p), nil)
	want(t, resp, ack, 401, "unknown_key", "fail")

	// The public-key route would query Alipay itself: a tampered body is
	// refused before any query.
	p = notifyParams("ex-pub-1", "example-pub-order-1", "EXP1", "9.99")
	body := strings.Replace(string(mustSign(t, s, p)), "total_amount=9.99", "total_amount=0.01", 1)
	resp, ack = postForm(t, base+"/alipay/notify", []byte(body), nil)
	want(t, resp, ack, 401, "bad_signature", "fail")
	if shop.count() != 1 {
		t.Fatalf("the shop got %d notifications, want 1", shop.count())
	}
}
