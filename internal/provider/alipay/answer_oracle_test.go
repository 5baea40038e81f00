package alipay

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// formerReadAnswer is how QueryOrder read a verified answer before
// readAnswer: json.Unmarshal into tradeAnswer and its code judged, then
// encoding/json's Decoder into the result's Raw map. The oracle of
// FuzzReadAnswerMatchesFormer.
func formerReadAnswer(raw []byte) (*tradeAnswer, map[string]any, error) {
	var r tradeAnswer
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, nil, errAnswerTypes()
	}
	if err := r.judge(); err != nil {
		return nil, nil, err
	}
	var rawMap map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rawMap); err != nil {
		return nil, nil, errAnswerTypes() // never: raw passed scanObject
	}
	return &r, rawMap, nil
}

func answerSeeds() []string {
	return []string{
		`{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","buyer_pay_amount":"12.34","out_trade_no":"order-1","send_pay_date":"2026-03-04 13:06:05","total_amount":"12.34","trade_no":"2026030422001400000000000001","trade_status":"TRADE_SUCCESS","store_name":"a\/b \"}{\" \u0041"}`,
		`{"code":"10000","fund_bill_list":[{"amount":"1.00","fund_channel":"ALIPAYACCOUNT"}],"n":1.5e3,"t":true,"z":null,"total_amount":"1.00","trade_status":"TRADE_SUCCESS"}`,
		`{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}`,
		`{"code":"20000","sub_code":"isp.unknow-error"}`,
		`{"code":10000}`, `{"code":null,"msg":"x"}`, `{"Code":"10000"}`, `{"CODE":"40004","sub_code":"ACQ.TRADE_NOT_EXIST"}`,
		`{"code":"10000","code":"20000"}`, `{"code":"10000","\u0063ode":"x"}`, "{\"code\":\"10000\",\"msg\":\"\xff\"}",
		`{"code":"10000","trade_\u017fta\u0074us":"TRADE_SUCCESS"}`, `{"code":"10000","total_amount":["1"]}`,
		`{"code":"10000","x":` + nested(70) + `}`, `{}`,
	}
}

func nested(n int) string {
	return string(bytes.Repeat([]byte("["), n)) + string(bytes.Repeat([]byte("]"), n))
}

// checkReadAnswer holds readAnswer to the former reading for raw, a
// verified response value (one JSON object, as VerifyResponse returns).
func checkReadAnswer(t *testing.T, raw []byte) {
	t.Helper()
	if _, err := scanObject(raw); err != nil || len(raw) == 0 || raw[0] != '{' {
		return // VerifyResponse never returns it
	}
	r, m, err := readAnswer(raw)
	wr, wm, werr := formerReadAnswer(raw)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
		t.Fatalf("%q: error %v, former %v", raw, err, werr)
	}
	if !reflect.DeepEqual(r, wr) || !reflect.DeepEqual(m, wm) {
		t.Fatalf("%q:\n%+v %#v\nformer\n%+v %#v", raw, r, m, wr, wm)
	}
}

func TestReadAnswerMatchesFormer(t *testing.T) {
	for _, s := range answerSeeds() {
		checkReadAnswer(t, []byte(s))
	}
}

func FuzzReadAnswerMatchesFormer(f *testing.F) {
	for _, s := range answerSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkReadAnswer(t, raw) })
}
