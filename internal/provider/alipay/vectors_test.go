package alipay

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// reverseEncode form-encodes params in reverse key order: the wire order
// must not matter.
func reverseEncode(params map[string]string) []byte {
	ks := make([]string, 0, len(params))
	for k := range params {
		ks = append(ks, k)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ks)))
	var parts []string
	for _, k := range ks {
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(params[k]))
	}
	return []byte(strings.Join(parts, "&"))
}

func vectorProvider(t testing.TB, c vectorCase) *Provider {
	t.Helper()
	appID := c.Params["app_id"]
	if appID == "" {
		appID = "2019073166072302"
	}
	p, err := New(Config{AppID: appID, PublicKey: []byte(c.AlipayPublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVectorNotifications(t *testing.T) {
	ran := 0
	for _, c := range loadVectors(t) {
		if c.Params == nil {
			continue
		}
		ran++
		t.Run(c.Name, func(t *testing.T) {
			p := vectorProvider(t, c)
			bodies := map[string][]byte{"reverse order": reverseEncode(c.Params)}
			if c.FormBody != "" {
				bodies["vector form_body"] = []byte(c.FormBody)
			}
			for bname, body := range bodies {
				v, err := p.VerifyNotify(&provider.Request{Method: "POST", Body: body})
				if c.Expected == "invalid" {
					code(t, err, reason.BadSignature)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", bname, err)
				}
				n := v.Notification
				if n.Provider != "alipay" || n.Merchant != c.Params["app_id"] || n.EventID != c.Params["notify_id"] {
					t.Errorf("%s: provider/merchant/event %q %q %q", bname, n.Provider, n.Merchant, n.EventID)
				}
				if !v.Timestamp.IsZero() || v.Nonce != "" {
					t.Errorf("alipay signs no replay window, got %v %q", v.Timestamp, v.Nonce)
				}
				want := map[string]any{}
				for k, val := range c.Params {
					if k != "sign" && k != "sign_type" {
						want[k] = val
					}
				}
				if len(n.Fields()) != len(want) {
					t.Errorf("raw has %d fields, want %d", len(n.Fields()), len(want))
				}
				for k, val := range want {
					if n.Fields()[k] != val {
						t.Errorf("raw[%s] = %v, want %v", k, n.Fields()[k], val)
					}
				}
				if nz := c.Normalized; nz != nil {
					nz.Check(t, &n)
					if n.Type != notification.TypeFor(n.Status) {
						t.Errorf("type %q", n.Type)
					}
					// gmt_payment 2019-08-15 15:56:24 Beijing time.
					if got := n.OccurredAt.Format("2006-01-02T15:04:05Z07:00"); got != "2019-08-15T07:56:24Z" {
						t.Errorf("occurred_at %s", got)
					}
				}
			}
			if c.SignedContent == "" {
				return
			}
			// The signed string is what the vector states, by the rule it names.
			form, err := ParseForm([]byte(c.FormBody))
			if err != nil {
				t.Fatal(err)
			}
			v2 := strings.HasPrefix(c.Rule, "V2")
			got := appendSignContent(nil, form, !v2)
			if string(got) != c.SignedContent {
				t.Errorf("signed content\n got %s\nwant %s", got, c.SignedContent)
			}
			// And the other rule does not verify: both rules are needed.
			raw, _ := base64.StdEncoding.DecodeString(form.Value("sign"))
			other := appendSignContent(nil, form, v2)
			if p.verifyBytes(other, raw) {
				t.Errorf("the other rule verifies too")
			}
		})
	}
	if ran != 3 {
		t.Fatalf("ran %d notification vectors, want 3", ran)
	}
}

func TestVectorResponses(t *testing.T) {
	ran := 0
	for _, c := range loadVectors(t) {
		if c.ResponseBody == "" {
			continue
		}
		ran++
		t.Run(c.Name, func(t *testing.T) {
			p := vectorProvider(t, c)
			raw, err := p.VerifyResponse([]byte(c.ResponseBody), c.ResponseKey)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != c.SignedContent {
				t.Fatalf("raw %s\nwant %s", raw, c.SignedContent)
			}
			// One byte changed inside the signed value: refused.
			tampered := strings.Replace(c.ResponseBody, `"10000"`, `"10001"`, 1)
			_, err = p.VerifyResponse([]byte(tampered), c.ResponseKey)
			code(t, err, reason.QueryUnavailable)
			// Re-serialising the value (here: only adding a space) breaks it.
			spaced := strings.Replace(c.ResponseBody, `"code":"10000"`, `"code": "10000"`, 1)
			_, err = p.VerifyResponse([]byte(spaced), c.ResponseKey)
			code(t, err, reason.QueryUnavailable)
			// Another key: refused.
			testKeys(t)
			q, _ := New(Config{AppID: "x", PublicKey: providertest.PublicPEM(t, &otherKey.PublicKey)})
			_, err = q.VerifyResponse([]byte(c.ResponseBody), c.ResponseKey)
			code(t, err, reason.QueryUnavailable)
		})
	}
	if ran != 2 {
		t.Fatalf("ran %d response vectors, want 2", ran)
	}
}

// The real trade.query answer, served over HTTP, goes through QueryOrder.
func TestVectorTradeQueryOverHTTP(t *testing.T) {
	c := vector(t, "trade_query_response_public_key_mode")
	testKeys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		_, _ = w.Write([]byte(c.ResponseBody))
	}))
	defer srv.Close()
	p, err := New(Config{AppID: "2016091200494382", PublicKey: []byte(c.AlipayPublicKey), PrivateKey: providertest.PrivatePEM(t, appKey), Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: c.QueryFields.OutTradeNo})
	if err != nil {
		t.Fatal(err)
	}
	qf := c.QueryFields
	if res.Amount != qf.AmountMinor || res.OutTradeNo != qf.OutTradeNo || res.TransactionID != qf.TradeNo || res.Currency != "CNY" || res.Merchant != "2016091200494382" {
		t.Fatalf("result %+v, want %+v", res, *qf)
	}
	// The answer carries no trade_status.
	if res.Status != notification.StatusOther {
		t.Fatalf("status %s", res.Status)
	}
	if res.Raw["total_amount"] != qf.TotalAmount {
		t.Fatalf("raw %v", res.Raw)
	}
}

func TestVectorCertSN(t *testing.T) {
	ran := 0
	for _, c := range loadVectors(t) {
		if c.ExpectedSN == "" {
			continue
		}
		ran++
		t.Run(c.Name, func(t *testing.T) {
			if c.RootBundle {
				bundle, err := ParseRootBundle([]byte(c.CertPEM))
				if err != nil {
					t.Fatal(err)
				}
				// SM2 root skipped; R1 (RSA), E1 (ECDSA), iTrusChina (RSA) kept.
				if len(bundle) != 3 {
					t.Fatalf("%d certificates parsed, want 3", len(bundle))
				}
				if got := RootCertSN(bundle); got != c.ExpectedSN {
					t.Fatalf("root SN %s, want %s", got, c.ExpectedSN)
				}
				var inputs []string
				for _, cert := range bundle {
					oid, _ := signatureOID(cert.Raw)
					if strings.HasPrefix(oid.String(), rsaSignatureOIDPrefix) {
						dn, _ := javaRFC2253(cert.RawIssuer)
						inputs = append(inputs, dn+cert.SerialNumber.String())
					}
				}
				if inputs[0] != c.MD5Inputs[1] || inputs[1] != c.MD5Inputs[3] {
					t.Fatalf("md5 inputs %q, want %q", inputs, c.MD5Inputs)
				}
				return
			}
			certs, err := keys.ParseCertificates([]byte(c.CertPEM))
			if err != nil {
				t.Fatal(err)
			}
			dn, err := javaRFC2253(certs[0].RawIssuer)
			if err != nil {
				t.Fatal(err)
			}
			if in := dn + certs[0].SerialNumber.String(); in != c.MD5Inputs[0] {
				t.Fatalf("md5 input %q, want %q", in, c.MD5Inputs[0])
			}
			if got := CertSN(certs[0]); got != c.ExpectedSN {
				t.Fatalf("SN %s, want %s", got, c.ExpectedSN)
			}
		})
	}
	if ran != 4 {
		t.Fatalf("ran %d SN vectors, want 4", ran)
	}
}

// The Alipay public certificate of the Node SDK fixture, in certificate mode
// with the production root bundle: the file holds only the leaf, whose
// issuer (Class 2 R1) is not in the bundle, so New refuses it and says
// what to do. The SN would otherwise be the vector's.
func TestVectorCertModeNeedsIntermediate(t *testing.T) {
	leaf := vector(t, "cert_sn_alipay_public_cert_nodejs_fixture")
	root := vector(t, "root_cert_sn_production_root_bundle")
	certs, _ := keys.ParseCertificates([]byte(leaf.CertPEM))
	_, err := New(Config{AppID: "x", Cert: []byte(leaf.CertPEM), RootCert: []byte(root.CertPEM),
		Now: func() time.Time { return certs[0].NotBefore.Add(24 * time.Hour) }})
	if err == nil || !strings.Contains(err.Error(), "append its intermediate") {
		t.Fatalf("err %v", err)
	}
}
