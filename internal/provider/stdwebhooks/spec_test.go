package stdwebhooks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/stdwebhook"
)

func TestRegistered(t *testing.T) {
	s, ok := provider.Lookup(Name)
	if !ok || s.Sandbox == nil {
		t.Fatal("stdwebhooks is not registered with a sandbox")
	}
	for _, name := range []string{"secret", "public_key", FieldEventID, FieldOutTradeNo, FieldTransactionID, FieldAmount, FieldCurrency, FieldStatus} {
		if _, _, ok := s.Option(name, false); !ok {
			t.Errorf("option %s missing", name)
		}
	}
}

func TestBuildFromOptions(t *testing.T) {
	secret := stdwebhook.FormatSecret(testSecret)
	other := stdwebhook.FormatSecret(otherSecret)
	b, err := buildFrom(t, provider.Values{"secret": {secret, other}, FieldAmount: {`body.data.amount * 100`}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Querier != nil {
		t.Fatal("the standard has no query API, yet a Querier was built")
	}
	now := time.Now()
	v, err := b.Provider.VerifyNotify(signedV1([][]byte{otherSecret}, "msg_1", now, paidBody))
	if err != nil || v.Notification.Amount != 123400 {
		t.Fatalf("%+v %v", v, err)
	}

	// public_key in each accepted spelling.
	spki, _ := x509.MarshalPKIXPublicKey(testPub)
	for name, pk := range map[string]string{
		"whpk_":       stdwebhook.FormatPublicKey(testPub),
		"bare base64": base64.StdEncoding.EncodeToString(testPub),
		"PEM":         string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})),
		"base64 DER":  base64.StdEncoding.EncodeToString(spki),
	} {
		b, err := buildFrom(t, provider.Values{"public_key": {pk}})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := b.Provider.VerifyNotify(signedV1a([]ed25519.PrivateKey{testPriv}, "msg_1", now, paidBody)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Every option error fails validation with the option's name and never
// the secret; mappings are compiled (syntax, names, static type) there.
func TestOptionErrors(t *testing.T) {
	secret := stdwebhook.FormatSecret(testSecret)
	cases := []struct {
		name string
		v    provider.Values
		msg  string
	}{
		{"no key", provider.Values{}, "secret (v1) or public_key (v1a) is required"},
		{"both", provider.Values{"secret": {secret}, "public_key": {stdwebhook.FormatPublicKey(testPub)}}, "exclude each other"},
		{"secret without prefix", provider.Values{"secret": {base64.StdEncoding.EncodeToString(testSecret)}}, "secret: must start with whsec_"},
		{"secret not base64", provider.Values{"secret": {"whsec_hunter2!!"}}, "secret: the part after whsec_ is not base64"},
		{"second secret short", provider.Values{"secret": {secret, stdwebhook.FormatSecret([]byte("hunter2"))}}, "fewer than 16 bytes"},
		{"public key is a secret", provider.Values{"public_key": {secret}}, "public_key: starts with whsec_"},
		{"public key too short", provider.Values{"public_key": {"whpk_" + base64.StdEncoding.EncodeToString(testPub[:31])}}, "32 bytes"},
		{"ECDSA public key", provider.Values{"public_key": {ecdsaSPKI(t)}}, "public_key: not an Ed25519 key"},
		{"mapping syntax", provider.Values{"secret": {secret}, FieldOutTradeNo: {`body.data.`}}, "out_trade_no: out_trade_no:1:"},
		{"mapping unknown name", provider.Values{"secret": {secret}, FieldStatus: {`notification.status`}}, "undeclared reference to 'notification'"},
		{"amount yields string", provider.Values{"secret": {secret}, FieldAmount: {`headers["X-Amount"]`}}, "amount must yield int, this expression yields string"},
		{"amount is a literal string", provider.Values{"secret": {secret}, FieldAmount: {`"1234"`}}, "amount must yield int"},
		{"currency yields int", provider.Values{"secret": {secret}, FieldCurrency: {`size(headers)`}}, "currency must yield string"},
		{"status yields bool", provider.Values{"secret": {secret}, FieldStatus: {`body.data.paid == true`}}, "status must yield string"},
		{"unknown option", provider.Values{"secret": {secret}, "refund_id": {`body.id`}}, `unknown option "refund_id"`},
	}
	for _, c := range cases {
		_, err := buildFrom(t, c.v)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: want %q, got %v", c.name, c.msg, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("%s: error repeats the secret: %v", c.name, err)
		}
	}
}

// The adapt-time check (CheckTable, then Parse on each value) catches the
// same errors before provision, so the Caddyfile line is reported.
func TestParseRunsPerValue(t *testing.T) {
	spec := Spec()
	for _, c := range []struct{ opt, val string }{
		{"secret", "nope"}, {"public_key", "whpk_AAAA"}, {FieldAmount, `"x"`}, {FieldStatus, `body.(`},
	} {
		o, _, ok := spec.Option(c.opt, false)
		if !ok || o.Parse == nil {
			t.Fatalf("%s has no Parse", c.opt)
		}
		if err := o.Parse([]byte(c.val)); err == nil {
			t.Errorf("%s %q accepted", c.opt, c.val)
		}
	}
	for _, f := range mappingFields {
		o, _, _ := spec.Option(f.name, false)
		if err := o.Parse([]byte(f.def)); err != nil {
			t.Errorf("default of %s does not compile: %v", f.name, err)
		}
	}
}

// ecdsaSPKI is a valid public key of another algorithm, as base64 DER.
func ecdsaSPKI(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}
