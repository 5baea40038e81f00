package alipay_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider/alipay"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/sandbox"
)

// The sandbox's alipay.trade.query answers are framed as Alipay's
// published answer is: the conformance suite proves they verify; this
// proves they look like the real thing, so a parser tested against the
// sandbox works against Alipay.
func TestAlipayResponseFramingMatchesPublishedAnswer(t *testing.T) {
	vec := alipayVector(t, "trade_query_response_public_key_mode")
	realKey := alipay.ResponseKey(alipay.QueryMethod)
	if vec.ResponseKey != realKey {
		t.Fatalf("vector response key %s", vec.ResponseKey)
	}
	// The real answer, through the real verifier with Alipay's real key.
	realProvider, err := alipay.New(alipay.Config{AppID: "2021000000000000", PublicKey: []byte(vec.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	realRaw, err := realProvider.VerifyResponse([]byte(vec.ResponseBody), realKey)
	if err != nil {
		t.Fatalf("published answer: %v", err)
	}
	if string(realRaw) != vec.SignedContent {
		t.Fatalf("published answer: verified bytes differ from the vector's signed content")
	}

	// The sandbox's answer for the vector's own order, as payguard's
	// QueryOrder receives it (a tee in front of the sandbox keeps the raw
	// body), then through the same method with the sandbox key.
	f := providertest.NewFixture(t, alipay.Name)
	f.Order(t, func(o *sandbox.Order) {
		o.OutTradeNo, o.TransactionID, o.Amount = vec.QueryFields.OutTradeNo, vec.QueryFields.TradeNo, 1
	})
	var simBody []byte
	tee := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		f.Server.ServeHTTP(rec, r)
		simBody = rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(simBody)
	}))
	defer tee.Close()
	honest := f.BuildAt(t, tee.URL).Provider.(*alipay.Provider)
	q, err := honest.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: vec.QueryFields.OutTradeNo})
	if err != nil || q.Amount != 1 || q.TransactionID != vec.QueryFields.TradeNo {
		t.Fatalf("query for the vector's order: %+v %v", q, err)
	}
	simRaw, err := honest.VerifyResponse(simBody, realKey)
	if err != nil {
		t.Fatalf("sandbox answer: %v", err)
	}

	// Same top-level framing: the response member, then sign.
	if got, want := memberKeys(t, simBody), memberKeys(t, []byte(vec.ResponseBody)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sandbox framing %v, Alipay's %v", got, want)
	}
	// The signed member is the raw slice of the body, as in the vector.
	if !strings.Contains(string(simBody), `{"`+realKey+`":`+string(simRaw)+`,"sign":"`) {
		t.Fatalf("signed member is not sliced verbatim from the body: %s", simBody)
	}
	// Every field of the real answer is in the sandbox's, in the same
	// relative order, with the same values for the same order.
	realFields, simFields := memberKeys(t, realRaw), memberKeys(t, simRaw)
	pos := map[string]int{}
	for i, k := range simFields {
		pos[k] = i
	}
	last := -1
	for _, k := range realFields {
		i, ok := pos[k]
		if !ok {
			t.Errorf("field %s of Alipay's answer missing from the sandbox's", k)
			continue
		}
		if i < last {
			t.Errorf("field %s out of Alipay's order", k)
		}
		last = i
	}
	var realMap, simMap map[string]any
	_ = json.Unmarshal(realRaw, &realMap)
	_ = json.Unmarshal(simRaw, &simMap)
	for _, k := range []string{"code", "msg", "out_trade_no", "trade_no", "total_amount", "buyer_pay_amount", "invoice_amount", "receipt_amount", "point_amount"} {
		if realMap[k] != simMap[k] {
			t.Errorf("%s: Alipay %v, sandbox %v", k, realMap[k], simMap[k])
		}
	}
	// The sandbox's key is not Alipay's: its answer must not verify with
	// Alipay's real key, nor the real answer with the sandbox key.
	if _, err := realProvider.VerifyResponse(simBody, realKey); err == nil {
		t.Fatal("sandbox answer verified with Alipay's real key")
	}
	if _, err := honest.VerifyResponse([]byte(vec.ResponseBody), realKey); err == nil {
		t.Fatal("Alipay's answer verified with the sandbox key")
	}
}

type alipayVec struct {
	Name          string `json:"name"`
	PublicKey     string `json:"alipay_public_key"`
	ResponseBody  string `json:"response_body"`
	ResponseKey   string `json:"response_key"`
	SignedContent string `json:"signed_content"`
	QueryFields   struct {
		OutTradeNo  string `json:"out_trade_no"`
		TotalAmount string `json:"total_amount"`
		TradeNo     string `json:"trade_no"`
	} `json:"query_fields"`
}

// alipayVector reads a case of shared/vectors/alipay.json (shared/ sits
// beside the repository; PAYGUARD_VECTORS overrides the directory). A
// missing file fails: a skip would hide that the published case did not
// run.
func alipayVector(t *testing.T, name string) alipayVec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "alipay.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []alipayVec `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("vector %s not found", name)
	return alipayVec{}
}

func memberKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
