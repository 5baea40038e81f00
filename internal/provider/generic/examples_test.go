package generic

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

// The Ping++-style example verifies Ping++'s own published demo webhook
// (internal/provider/pingpp's vector, copied here) and refuses its tampered
// twin: generic describes the Ping++ scheme exactly.
func TestExamplePingppStyle(t *testing.T) {
	p, warnings, err := buildValues(t, exampleValues(t, "pingpp_style.Caddyfile")[0])
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "charge_partner" {
		t.Errorf("Name() = %q, want the configured name", p.Name())
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no timestamp or nonce") {
		t.Errorf("warnings %q", warnings)
	}
	b, err := os.ReadFile("testdata/pingpp.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Cases []struct {
			Body     string
			Headers  map[string]string
			Expected string
		}
	}
	if err := json.Unmarshal(b, &vec); err != nil {
		t.Fatal(err)
	}
	genuine, tampered := vec.Cases[0], vec.Cases[1]
	v, err := p.VerifyNotify(request([]byte(genuine.Body), genuine.Headers))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.Provider != "charge_partner" || n.EventID != "evt_eYa58Wd44Glerl8AgfYfd1sL" || n.OutTradeNo != "2015d019f7cf6c0d" ||
		n.TransactionID != "ch_bq9IHKnn6GnLzsS0swOujr4x" || n.Amount != 100 || n.Currency != "CNY" || n.Status != notification.StatusPaid {
		t.Errorf("%+v", n)
	}
	if _, err := p.VerifyNotify(request([]byte(tampered.Body), tampered.Headers)); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatalf("tampered twin: %v", err)
	}
}

// The BeeCloud-style example: a webhook signed with the example's master
// secret verifies and maps; the unsigned fields are invisible to the
// mappings, so a mapping that reads one fails instead of believing it.
func TestExampleBeeCloudStyle(t *testing.T) {
	vals := exampleValues(t, "beecloud_style.Caddyfile")[0]
	p, warnings, err := buildValues(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "md5-with-key is weak") {
		t.Errorf("warnings %q", warnings)
	}
	secret, err := os.ReadFile("../../../examples/generic/beecloud_master_secret")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"timestamp":1426817510111,"channel_type":"WX","sub_channel_type":"WX_APP","transaction_type":"PAY",` +
		`"transaction_id":"201506101035040000001","transaction_fee":1,"trade_success":true,` +
		`"message_detail":{"out_trade_no":"x"},"optional":{"agentId":"Alice"},"app_id":"c37d661d-7e61-49ea-96a5-68c34e83db3b"}`
	// BeeCloud's scheme written out by hand, not through the signer.
	want := md5Hex("c37d661d-7e61-49ea-96a5-68c34e83db3b" + "201506101035040000001" + "PAY" + "WX" + "1" + string(secret))
	signed, err := attachField(formatJSON, []byte(body), "signature", want)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.VerifyNotify(request(signed, nil))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.Provider != "beecloud" || n.EventID != "201506101035040000001:PAY" || n.OutTradeNo != "201506101035040000001" ||
		n.Amount != 1 || n.Currency != "CNY" || n.Status != notification.StatusPaid {
		t.Errorf("%+v", n)
	}
	if _, ok := n.Raw["trade_success"]; ok {
		t.Error("an unsigned field reached Raw")
	}
	refund := strings.Replace(body, `"PAY"`, `"REFUND"`, 1)
	refundSig := md5Hex("c37d661d-7e61-49ea-96a5-68c34e83db3b" + "201506101035040000001" + "REFUND" + "WX" + "1" + string(secret))
	signed, _ = attachField(formatJSON, []byte(refund), "signature", strings.ToUpper(refundSig))
	if v, err = p.VerifyNotify(request(signed, nil)); err != nil || v.Notification.Status != notification.StatusRefunded || v.Notification.RefundAmount != 1 {
		t.Fatalf("refund (upper-case hex): %+v %v", v, err)
	}
	// The fee changed after signing.
	signed, _ = attachField(formatJSON, []byte(strings.Replace(body, `"transaction_fee":1`, `"transaction_fee":100`, 1)), "signature", want)
	if _, err := p.VerifyNotify(request(signed, nil)); reason.CodeOf(err, "") != reason.BadSignature {
		t.Fatalf("changed fee: %v", err)
	}
	// A mapping over an unsigned field cannot be satisfied.
	vals["status"] = []string{`body.trade_success ? "paid" : "failed"`}
	p2, _, err := buildValues(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ = attachField(formatJSON, []byte(body), "signature", want)
	if _, err := p2.VerifyNotify(request(signed, nil)); reason.CodeOf(err, "") != reason.Malformed {
		t.Fatalf("mapping over unsigned trade_success: %v", err)
	}
}

// The points partner example: generic.json's WeChat-style md5 vector's
// fields and signature verify with the example's configuration, and a
// complete callback maps.
func TestExamplePointsPartner(t *testing.T) {
	p, warnings, err := buildValues(t, exampleValues(t, "points_partner.Caddyfile")[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "md5-with-key is weak") {
		t.Errorf("warnings %q", warnings)
	}
	c := loadVectors(t)[0]
	body := formBody(c.Fields, "sign", c.Signature)
	m, err := parseBody(formatForm, body)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := p.scheme.decodeSignature(c.Signature)
	if err := p.verify(m, sig, signedValues{nonce: c.Fields["nonce_str"]}); err != nil {
		t.Fatalf("the vector does not verify with the example's scheme: %v", err)
	}

	fields := map[string]string{
		"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "nonce_str": "ibuaiVcKdpRxkhJA",
		"out_trade_no": "SHOP20260101", "deduct_id": "PTS0001", "total_fee": "880", "points": "88",
		"result_code": "SUCCESS", "attach": "",
	}
	key, _ := os.ReadFile("../../../examples/generic/points_partner_key")
	g := Signer{Scheme: p.scheme, Secret: key, Nonce: fields["nonce_str"]}
	signed, _, err := g.SignBody(formBody(fields, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.VerifyNotify(request(signed, nil))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.Provider != "points_partner" || n.EventID != "PTS0001" || n.OutTradeNo != "SHOP20260101" || n.Amount != 880 ||
		n.Status != notification.StatusPaid || v.Nonce != "ibuaiVcKdpRxkhJA" || !v.Timestamp.IsZero() {
		t.Errorf("%+v nonce %q", n, v.Nonce)
	}
	if _, ok := n.Raw["sign"]; ok {
		t.Error("the signature field reached Raw")
	}
	if a := p.Acknowledge(true, reason.Forwarded, 200); string(a.Body) != "SUCCESS" || a.Status != 200 {
		t.Errorf("ack %+v", a)
	}
	if a := p.Acknowledge(false, reason.BadSignature, 0); string(a.Body) != "FAIL" || a.Status != 401 {
		t.Errorf("refusal %+v", a)
	}
}
