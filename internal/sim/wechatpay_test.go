package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/wechatpay"
	"github.com/payguard/payguard/internal/reason"
)

// v3Verifier is payguard's real wechatpay_v3 provider in public-key mode,
// configured against the sandbox as the printed Caddyfile lines say.
func v3Verifier(t testing.TB, endpoint string, mutate ...func(*wechatpay.V3Config)) *wechatpay.V3 {
	t.Helper()
	k := testKeys(t).WeChat
	cfg := wechatpay.V3Config{
		MchID:          DefaultWeChatMchID,
		AppID:          DefaultWeChatAppID,
		APIv3Key:       readKeyFile(t, FileWeChatAPIv3Key),
		PublicKeyID:    k.PublicKeyID,
		PublicKey:      readKeyFile(t, FileWeChatPlatformPublic),
		MerchantSerial: k.MerchantSerial,
		PrivateKey:     readKeyFile(t, FileWeChatMerchantPrivate),
		Endpoint:       endpoint,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := wechatpay.NewV3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func v2Verifier(t testing.TB, endpoint, signType string, mutate ...func(*wechatpay.V2Config)) *wechatpay.V2 {
	t.Helper()
	cfg := wechatpay.V2Config{
		MchID:    DefaultWeChatMchID,
		AppID:    DefaultWeChatAppID,
		APIKey:   readKeyFile(t, FileWeChatAPIKey),
		SignType: signType,
		Endpoint: endpoint,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := wechatpay.NewV2(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func verify(p provider.Provider, m *Message, now time.Time) (*provider.Verified, error) {
	return p.VerifyNotify(&provider.Request{Method: m.Method, Path: "/notify", Header: m.Header, Body: m.Body, Now: now})
}

func TestWeChatV3NotifyVerifiesWithRealVerifier(t *testing.T) {
	sb := newSandbox(t, "")
	now := time.Now()
	p := v3Verifier(t, "")
	o := prepared(t, sb.v3, Order{Amount: "12.34"}, now)
	m, err := sb.v3.BuildNotify(&o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify(p, m, now)
	if err != nil {
		t.Fatalf("the real verifier refuses the simulator's v3 notification: %v", err)
	}
	n := v.Notification
	if n.EventID != o.EventID || n.OutTradeNo != o.OutTradeNo || n.TransactionID != o.TransactionID ||
		n.Amount != 1234 || n.Currency != "CNY" || n.Status != notification.StatusPaid || v.Nonce == "" ||
		v.Timestamp.Unix() != now.Unix() {
		t.Fatalf("verified %+v (nonce %q, ts %v) from order %+v", n, v.Nonce, v.Timestamp, o)
	}
	if !strings.HasPrefix(o.EventID, "EV-") || len(o.TransactionID) != 28 {
		t.Errorf("ids not in WeChat's shapes: %s %s", o.EventID, o.TransactionID)
	}
}

var wantV3Tamper = map[string]reason.Code{
	"amount":                   reason.BadSignature,
	"out_trade_no":             reason.BadSignature,
	"trade_state":              reason.BadSignature,
	"mchid":                    reason.BadSignature,
	"id":                       reason.BadSignature,
	"event_type":               reason.BadSignature,
	"ciphertext":               reason.BadSignature,
	"wechatpay-timestamp":      reason.BadSignature,
	"wechatpay-nonce":          reason.BadSignature,
	"wechatpay-serial":         reason.UnknownKey, // another key id: key selection fails first
	"wechatpay-signature":      reason.BadSignature,
	"wechatpay-signature-type": reason.BadSignature,
}

func TestWeChatV3EveryTamperRejected(t *testing.T) {
	sb := newSandbox(t, "")
	now := time.Now()
	p := v3Verifier(t, "")
	o := prepared(t, sb.v3, Order{Amount: "3.00"}, now)
	genuine, err := sb.v3.BuildNotify(&o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.v3.Tamperable()) != len(wantV3Tamper) {
		t.Fatalf("Tamperable %v, test table has %d", sb.v3.Tamperable(), len(wantV3Tamper))
	}
	for _, f := range sb.v3.Tamperable() {
		want, ok := wantV3Tamper[f]
		if !ok {
			t.Fatalf("tamper field %s has no expected reason in the test", f)
		}
		m, err := sb.v3.BuildNotify(&o, f, now)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Something must actually differ from an untampered message: a
		// header for header fields, the body otherwise. (Each build has
		// fresh nonces, so compare the tampered part's shape only.)
		if strings.HasPrefix(f, "wechatpay-") {
			hdr := http.CanonicalHeaderKey(f)
			if m.Header.Get(hdr) == "" {
				t.Errorf("%s: header missing", f)
			}
		} else if len(m.Body) == 0 || string(m.Body) == string(genuine.Body) {
			t.Errorf("%s: body unchanged", f)
		}
		_, err = verify(p, m, now)
		if got := reason.CodeOf(err, ""); got != want {
			t.Errorf("tamper %s: verifier said %v (%v), want %s", f, got, err, want)
		}
	}
}

func TestWeChatV3ResourceTamperDecryptsButFailsSignature(t *testing.T) {
	// The re-encrypted resource is a valid ciphertext under the API v3
	// key: only the body signature catches it, which is the point.
	sb := newSandbox(t, "")
	now := time.Now()
	o := prepared(t, sb.v3, Order{Amount: "3.00"}, now)
	m, err := sb.v3.BuildNotify(&o, "amount", now)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Resource wechatpay.V3Resource `json:"resource"`
	}
	if err := json.Unmarshal(m.Body, &env); err != nil {
		t.Fatal(err)
	}
	pt, err := wechatpay.DecryptV3Resource(testKeys(t).WeChat.APIv3Key, env.Resource.AssociatedData, env.Resource.Nonce, env.Resource.Ciphertext)
	if err != nil {
		t.Fatalf("tampered resource does not decrypt: %v", err)
	}
	if !strings.Contains(string(pt), `"total":301`) {
		t.Fatalf("tampered plaintext %s", pt)
	}
}

func TestWeChatV3QueryAPIWithRealClient(t *testing.T) {
	sb := newSandbox(t, "")
	p := v3Verifier(t, sb.v3.Endpoint(sb.http.URL))
	ctx := context.Background()
	o := register(t, sb, Order{Provider: "wechatpay_v3", OutTradeNo: "W3-paid", Amount: "9.99"})
	r, err := p.QueryOrder(ctx, &notification.Notification{OutTradeNo: "W3-paid"})
	if err != nil {
		t.Fatalf("v3 query: %v", err)
	}
	if r.Status != notification.StatusPaid || r.Amount != 999 || r.Currency != "CNY" || r.TransactionID != o.TransactionID || r.Merchant != DefaultWeChatMchID {
		t.Fatalf("v3 query result %+v", r)
	}
	register(t, sb, Order{Provider: "wechatpay_v3", OutTradeNo: "W3-unpaid", Amount: "9.99", QueryStatus: "NOTPAY", QueryAmount: "1.00"})
	r, err = p.QueryOrder(ctx, &notification.Notification{OutTradeNo: "W3-unpaid"})
	if err != nil || r.Status != notification.StatusPending || r.Amount != 100 {
		t.Fatalf("disagreeing sandbox: %+v %v", r, err)
	}
	if _, err := p.QueryOrder(ctx, &notification.Notification{OutTradeNo: "W3-unknown"}); reason.CodeOf(err, "") != reason.QueryMismatch {
		t.Fatalf("unknown order: %v", err)
	}
	// A v2 order does not exist for v3.
	register(t, sb, Order{Provider: "wechatpay_v2", OutTradeNo: "W2-only", Amount: "1.00"})
	if _, err := p.QueryOrder(ctx, &notification.Notification{OutTradeNo: "W2-only"}); reason.CodeOf(err, "") != reason.QueryMismatch {
		t.Fatalf("v2 order queried through v3: %v", err)
	}
	// Another merchant's order does not exist either.
	register(t, sb, Order{Provider: "wechatpay_v3", OutTradeNo: "W3-other", Amount: "1.00", MchID: "1900000002"})
	if _, err := p.QueryOrder(ctx, &notification.Notification{OutTradeNo: "W3-other"}); reason.CodeOf(err, "") != reason.QueryMismatch {
		t.Fatalf("other merchant's order: %v", err)
	}
}

func TestWeChatV3QueryAPIRefusesForgedRequest(t *testing.T) {
	sb := newSandbox(t, "")
	register(t, sb, Order{Provider: "wechatpay_v3", OutTradeNo: "W3-forged", Amount: "1.00"})
	for name, mutate := range map[string]func(*wechatpay.V3Config){
		"wrong merchant key": func(c *wechatpay.V3Config) { c.PrivateKey = readKeyFile(t, FileWeChatPlatformPrivate) },
		"wrong serial":       func(c *wechatpay.V3Config) { c.MerchantSerial = "0000000000000000000000000000000000000001" },
		"stale clock":        func(c *wechatpay.V3Config) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } },
	} {
		p := v3Verifier(t, sb.v3.Endpoint(sb.http.URL), mutate)
		_, err := p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "W3-forged"})
		if reason.CodeOf(err, "") != reason.QueryUnavailable || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// No Authorization at all, straight at the sandbox.
	resp, err := http.Get(sb.v3.Endpoint(sb.http.URL) + "/v3/pay/transactions/out-trade-no/W3-forged?mchid=" + DefaultWeChatMchID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(wechatpay.HeaderSignature) == "" {
		t.Fatalf("unauthenticated v3 query: %d, signed %v", resp.StatusCode, resp.Header.Get(wechatpay.HeaderSignature) != "")
	}
}

func TestWeChatV2NotifyAndQuery(t *testing.T) {
	for _, st := range []string{wechatpay.SignTypeMD5, wechatpay.SignTypeHMACSHA256} {
		t.Run(st, func(t *testing.T) {
			sb := newSandbox(t, st)
			now := time.Now()
			p := v2Verifier(t, sb.v2.Endpoint(sb.http.URL), st)
			o := prepared(t, sb.v2, Order{Amount: "0.01"}, now)
			m, err := sb.v2.BuildNotify(&o, "", now)
			if err != nil {
				t.Fatal(err)
			}
			v, err := verify(p, m, now)
			if err != nil {
				t.Fatalf("the real verifier refuses the simulator's v2 notice: %v\n%s", err, m.Body)
			}
			n := v.Notification
			if n.EventID != o.TransactionID || n.OutTradeNo != o.OutTradeNo || n.Amount != 1 || n.Status != notification.StatusPaid {
				t.Fatalf("verified %+v from %+v", n, o)
			}
			register(t, sb, o)
			r, err := p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: o.OutTradeNo})
			if err != nil || r.Status != notification.StatusPaid || r.Amount != 1 || r.TransactionID != o.TransactionID {
				t.Fatalf("v2 query: %+v %v", r, err)
			}
			if _, err := p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "W2-unknown"}); reason.CodeOf(err, "") != reason.QueryMismatch {
				t.Fatalf("unknown order: %v", err)
			}
			forger := v2Verifier(t, sb.v2.Endpoint(sb.http.URL), st, func(c *wechatpay.V2Config) {
				c.APIKey = []byte(strings.Repeat("x", 32))
			})
			if _, err := forger.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: o.OutTradeNo}); reason.CodeOf(err, "") != reason.QueryUnavailable || !strings.Contains(err.Error(), "FAIL") {
				t.Fatalf("forged v2 query: %v", err)
			}
		})
	}
}

func TestWeChatV2EveryTamperRejected(t *testing.T) {
	for _, st := range []string{wechatpay.SignTypeMD5, wechatpay.SignTypeHMACSHA256} {
		t.Run(st, func(t *testing.T) {
			sb := newSandbox(t, st)
			now := time.Now()
			p := v2Verifier(t, "", st)
			o := prepared(t, sb.v2, Order{Amount: "20.00"}, now)
			for _, f := range sb.v2.Tamperable() {
				m, err := sb.v2.BuildNotify(&o, f, now)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				fields, err := wechatpay.ParseXML(m.Body)
				if err != nil {
					t.Fatalf("%s: tampered notice does not parse: %v", f, err)
				}
				if f != "sign" && f != "sign_type" {
					genuine := v2Fields(&o, false)
					if f == "result_code" {
						genuine[f] = "SUCCESS"
					}
					if fields[f] == genuine[f] {
						t.Errorf("%s: unchanged (%q)", f, fields[f])
					}
				}
				// Every v2 tamper is caught by the sign check, which runs
				// before the account and result checks.
				_, err = verify(p, m, now)
				if got := reason.CodeOf(err, ""); got != reason.BadSignature {
					t.Errorf("tamper %s: verifier said %v (%v), want bad_signature", f, got, err)
				}
			}
		})
	}
}

func TestWeChatPrepareRejects(t *testing.T) {
	sb := newSandbox(t, "")
	now := time.Now()
	for _, o := range []Order{
		{Provider: "wechatpay_v3", OutTradeNo: strings.Repeat("a", 33), Amount: "1"},
		{Provider: "wechatpay_v3", OutTradeNo: "a", Amount: "1", Status: "TRADE_SUCCESS"},
		{Provider: "wechatpay_v3", OutTradeNo: "a<b>", Amount: "1"},
	} {
		o := o
		if err := sb.v3.Prepare(&o, now); err == nil {
			t.Errorf("v3 Prepare accepted %+v", o)
		}
	}
	o := Order{Provider: "wechatpay_v2", OutTradeNo: "a", Amount: "1", EventID: "other"}
	if err := sb.v2.Prepare(&o, now); err == nil {
		t.Error("v2 Prepare accepted an event id of its own")
	}
}

func TestReplaceXMLElement(t *testing.T) {
	doc := []byte("<xml><a><![CDATA[1]]></a><total_fee><![CDATA[100]]></total_fee></xml>")
	got, err := replaceXMLElement(doc, "total_fee", "1")
	if err != nil || string(got) != "<xml><a><![CDATA[1]]></a><total_fee><![CDATA[1]]></total_fee></xml>" {
		t.Fatalf("%s %v", got, err)
	}
	if _, err := replaceXMLElement(doc, "missing", "1"); err == nil {
		t.Fatal("missing element replaced")
	}
	if _, err := replaceXMLElement([]byte("<xml><a>1"), "a", "1"); err == nil {
		t.Fatal("unclosed element replaced")
	}
	if _, err := replaceXMLElement(doc, "a", "]]>"); err == nil {
		t.Fatal("CDATA terminator accepted")
	}
}
