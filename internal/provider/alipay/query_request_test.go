package alipay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// The request builder queryForm had before query_request.go, on a map,
// encoding/json, a sort and url.Values: the oracle the appending builder
// is held to, byte for byte, for the signed string and the form.

// formerBiz is the former biz_content: the one-entry map, marshalled.
func formerBiz(key, value string) []byte {
	b, err := json.Marshal(map[string]string{key: value})
	if err != nil {
		panic(err)
	}
	return b
}

// formerParams is the former parameter map, without sign.
func formerParams(p *Provider, method string, bizJSON []byte, now time.Time) map[string]string {
	params := map[string]string{
		"app_id":      p.appID,
		"method":      method,
		"format":      "JSON",
		"charset":     "utf-8",
		"sign_type":   p.signType,
		"timestamp":   now.In(beijing).Format(timeLayout),
		"version":     "1.0",
		"biz_content": string(bizJSON),
	}
	if p.certMode {
		params["app_cert_sn"] = p.appCertSN
		params["alipay_root_cert_sn"] = p.rootCertSN
	}
	return params
}

// formerForm is the former form body for params and the signature sig.
func formerForm(params map[string]string, sig []byte) string {
	vals := make(url.Values, len(params)+1)
	for k, v := range params {
		vals.Set(k, v)
	}
	vals.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return vals.Encode()
}

// checkRequestMatchesFormer builds one request both ways, without the RSA
// signature (sig stands for it), and fails on any byte of difference.
func checkRequestMatchesFormer(t *testing.T, p *Provider, method, bizKey, bizValue string, now time.Time, sig []byte) {
	t.Helper()
	biz := appendBizContent(nil, bizKey, bizValue)
	if want := formerBiz(bizKey, bizValue); !bytes.Equal(biz, want) {
		t.Fatalf("biz_content %q, former %q", biz, want)
	}
	var store [10]requestParam
	params := p.requestParams(store[:], method, biz, now.In(beijing).AppendFormat(nil, timeLayout))
	former := formerParams(p, method, biz, now)
	if got, want := appendRequestSignContent(nil, params), requestSignContent(former); !bytes.Equal(got, want) {
		t.Fatalf("signed string\n%q\nformer\n%q", got, want)
	}
	if got, want := string(appendRequestForm(nil, params, sig)), formerForm(former, sig); got != want {
		t.Fatalf("form\n%q\nformer\n%q", got, want)
	}
}

func requestSeeds() []string {
	return []string{"", "order-1", "o&1=2", "a b+c/d?e#f", `q"u\o<t>e`, "订单-42", "\xff\xfe bad utf-8", "\u2028\u2029", "\x00\x1f\x7f", "%41", "~._-"}
}

func TestRequestMatchesFormer(t *testing.T) {
	sigs := [][]byte{{}, {0xfb, 0xff, 0xbf}, bytes.Repeat([]byte{0xfb, 0xef}, 128)}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, cert := range []bool{false, true} {
		for _, v := range requestSeeds() {
			p := &Provider{appID: v + "app", signType: SignTypeRSA2, certMode: cert, appCertSN: v, rootCertSN: "root" + v}
			for _, sig := range sigs {
				checkRequestMatchesFormer(t, p, QueryMethod, "out_trade_no", v, now, sig)
				checkRequestMatchesFormer(t, p, "a.b"+v, "trade_no", v, now, sig)
			}
		}
	}
}

// TestQueryFormMatchesFormer signs for real: the whole body, signature
// included (PKCS#1 v1.5 is deterministic), is the former builder's.
func TestQueryFormMatchesFormer(t *testing.T) {
	for _, mode := range []string{SignTypeRSA2, SignTypeRSA} {
		p := queryProvider(t, "http://127.0.0.1:1/", func(c *Config) { c.SignType = mode })
		for _, v := range []string{"order-1", "o&1=2", "订单<42>"} {
			got, err := p.queryForm(QueryMethod, appendBizContent(nil, "out_trade_no", v))
			if err != nil {
				t.Fatal(err)
			}
			former := formerParams(p, QueryMethod, formerBiz("out_trade_no", v), p.now())
			sig, err := signPKCS1(p.privKey, p.hash, requestSignContent(former))
			if err != nil {
				t.Fatal(err)
			}
			if want := formerForm(former, sig); string(got) != want {
				t.Fatalf("%s %q:\n%s\nformer\n%s", mode, v, got, want)
			}
		}
	}
}

// TestQueryFormCertMode: the certificate-mode request carries both SNs.
func TestQueryFormCertMode(t *testing.T) {
	p := &Provider{appID: "app", signType: SignTypeRSA2, certMode: true, appCertSN: "abc", rootCertSN: "r1_r2"}
	form := string(appendRequestForm(nil, p.requestParams(nil, QueryMethod, []byte(`{}`), []byte("t")), []byte{1}))
	vals, err := url.ParseQuery(form)
	if err != nil || vals.Get("app_cert_sn") != "abc" || vals.Get("alipay_root_cert_sn") != "r1_r2" || vals.Get("sign") != "AQ==" {
		t.Fatalf("%v %v", vals, err)
	}
}

func FuzzRequestMatchesFormer(f *testing.F) {
	for _, v := range requestSeeds() {
		f.Add(v, v+"app", "sn"+v, false, false, int64(1772600000), []byte(v))
		f.Add(v, "2021000000000001", v, true, true, int64(-1), []byte{0xfb, 0xff})
	}
	f.Fuzz(func(t *testing.T, value, appID, sn string, cert, tradeNo bool, unix int64, sig []byte) {
		p := &Provider{appID: appID, signType: SignTypeRSA2, certMode: cert, appCertSN: sn, rootCertSN: appID + sn}
		if tradeNo {
			p.signType = SignTypeRSA
		}
		key := "out_trade_no"
		if tradeNo {
			key = "trade_no"
		}
		checkRequestMatchesFormer(t, p, QueryMethod, key, value, time.Unix(unix%(1<<40), 0), sig)
	})
}
