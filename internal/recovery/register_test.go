package recovery

import (
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

func TestParseRegistration(t *testing.T) {
	r, err := ParseRegistration([]byte(`{"out_trade_no":"O-1","amount":1234,"currency":"CNY","txn_time":"20260102030405"}`))
	if err != nil {
		t.Fatal(err)
	}
	w := r.Watch("unionpay")
	if w.Provider != "unionpay" || w.OutTradeNo != "O-1" || !w.HasAmount || w.Amount != 1234 || w.Currency != "CNY" || w.Hints["txn_time"] != "20260102030405" {
		t.Fatalf("%+v", w)
	}
	r, err = ParseRegistration([]byte(`{"out_trade_no":"O-2"}`))
	if err != nil || r.Watch("alipay").HasAmount {
		t.Fatalf("%+v %v", r, err)
	}
	for _, body := range []string{
		``, `null`, `[]`, `{}`, `{"out_trade_no":""}`, `{"out_trade_no":1}`,
		`{"out_trade_no":"O","out_trade_no":"P"}`, `{"out_trade_no":"O","extra":1}`,
		`{"out_trade_no":"O","amount":-1}`, `{"out_trade_no":"O","amount":1.5}`,
		`{"out_trade_no":"O","currency":"cny"}`, `{"out_trade_no":"O P"}`,
		`{"out_trade_no":"O"} {}`, `{"out_trade_no":"` + string(make([]byte, 65)) + `"}`,
		"{\"out_trade_no\":\"\xff\"}",
	} {
		if _, err := ParseRegistration([]byte(body)); reason.CodeOf(err, "") != reason.Malformed {
			t.Errorf("%q: %v; want malformed", body, err)
		}
	}
}

func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"out_trade_no":"O-1","amount":1234,"currency":"CNY"}`))
	f.Add([]byte(`{"out_trade_no":"O-1","txn_time":"20260102030405"}`))
	f.Add([]byte(`{"out_trade_no":"O","amount":1e30}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRegistration(b)
		if err != nil {
			if reason.CodeOf(err, "") != reason.Malformed {
				t.Fatalf("error %v is not malformed", err)
			}
			return
		}
		if r.OutTradeNo == "" || len(r.OutTradeNo) > MaxOutTradeNo || (r.Amount != nil && *r.Amount < 0) {
			t.Fatalf("accepted %+v", r)
		}
	})
}
