package pingpp

import (
	"crypto/rsa"
	"net/http"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
)

// key is one RSA-2048 key per test binary: generating one per test would
// cost more than the tests.
func key(t testing.TB) *rsa.PrivateKey { return providertest.RSAKeys(t, 1)[0] }

func newTestProvider(t testing.TB) *Provider {
	t.Helper()
	p, err := New(Config{PublicKey: &key(t).PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signed is a request carrying body signed with the test key.
func signed(t testing.TB, body string) *provider.Request {
	t.Helper()
	sig, err := Sign(key(t), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(SignatureHeader, sig)
	return &provider.Request{Method: http.MethodPost, Header: h, Body: []byte(body), Now: time.Now()}
}

const chargeEvent = `{"id":"evt_test0000000000000000001","created":1700000000,"livemode":true,"type":"charge.succeeded",` +
	`"data":{"object":{"id":"ch_test0000000000000000001","object":"charge","paid":true,"app":"app_test","order_no":"ORDER1",` +
	`"amount":1234,"currency":"cny","time_paid":1699999990,"transaction_no":"4200000001"}},"object":"event"}`

const refundEvent = `{"id":"evt_test0000000000000000002","created":1700000100,"livemode":true,"type":"refund.succeeded",` +
	`"data":{"object":{"id":"re_test0000000000000000001","object":"refund","order_no":"REFUND1","charge_order_no":"ORDER1",` +
	`"amount":500,"succeed":true,"status":"succeeded","time_succeed":1700000090,"charge":"ch_test0000000000000000001"}},"object":"event"}`
