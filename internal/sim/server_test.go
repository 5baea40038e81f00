package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestControlAPI(t *testing.T) {
	sb := newSandbox(t, nil)
	post := func(body string) (int, string) {
		resp, err := http.Post(sb.http.URL+"/_sim/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(`{"provider":"alipay","out_trade_no":"C-1","amount":150}`)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	var o Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if o.Amount != 150 || o.QueryAmount != 150 || o.Currency != "CNY" || o.Status != "TRADE_SUCCESS" || o.TransactionID == "" || o.AppID != "2021000000000001" {
		t.Fatalf("registered order not prepared: %+v", o)
	}
	// Re-registering updates what the sandbox answers.
	if code, body := post(`{"provider":"alipay","out_trade_no":"C-1","amount":150,"query_amount":1}`); code != http.StatusCreated {
		t.Fatalf("re-register: %d %s", code, body)
	}
	if got, _ := sb.srv.Book().Get("alipay", "C-1"); got.QueryAmount != 1 || sb.srv.Book().Len() != 1 {
		t.Fatalf("update: %+v, %d orders", got, sb.srv.Book().Len())
	}

	for _, bad := range []struct{ body, want string }{
		{`{"provider":"nosuch","out_trade_no":"C-2","amount":1}`, "not simulated"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":1,"colour":"red"}`, "unknown field"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":"1"}`, "order JSON"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":1} {}`, "after the object"},
		{`{"provider":"alipay","out_trade_no":"C 2","amount":1}`, "out_trade_no"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":1.5}`, "order JSON"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":0}`, "amount"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":1,"currency":"usd"}`, "currency"},
		{`[]`, "order JSON"},
		{``, "order JSON"},
	} {
		code, body := post(bad.body)
		if code != http.StatusBadRequest || !strings.Contains(body, bad.want) {
			t.Errorf("%s: %d %s", bad.body, code, body)
		}
	}
	if code, _ := post(`{"provider":"alipay","out_trade_no":"` + strings.Repeat("a", maxOrderBody) + `"}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized order: %d", code)
	}

	resp, err := http.Get(sb.http.URL + "/_sim/orders")
	if err != nil {
		t.Fatal(err)
	}
	var list []Order
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0].OutTradeNo != "C-1" {
		t.Fatalf("list: %+v", list)
	}

	resp, err = http.Get(sb.http.URL + "/_sim/providers")
	if err != nil {
		t.Fatal(err)
	}
	var infos []ProviderInfo
	_ = json.NewDecoder(resp.Body).Decode(&infos)
	resp.Body.Close()
	if len(infos) != len(sb.ps) || infos[0].Name != "alipay" || infos[0].Currency != "CNY" || len(infos[0].Tamperable) == 0 {
		t.Fatalf("providers: %+v", infos)
	}
}

func TestServerHandles(t *testing.T) {
	sb := newSandbox(t, nil)
	for path, want := range map[string]bool{
		"/alipay/gateway.do": true,
		"/_sim/orders":       true,
		"/wechatpay/v3/pay/transactions/out-trade-no/X": true,
		"/wechatpay/v2/pay/orderquery":                  true,
		"/":                                             false,
		"/alipay/notify":                                false,
		"/shop/orders":                                  false,
	} {
		// Handles answers for any method: a GET on the gateway is still
		// the sandbox's to refuse (405), not another handler's.
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if got := sb.srv.Handles(r); got != want {
			t.Errorf("Handles(%s) = %v", path, got)
		}
	}
	if _, err := NewServer(ServerConfig{Providers: []*Provider{sb.provider(t, "alipay"), sb.provider(t, "alipay")}}); err == nil {
		t.Fatal("duplicate provider accepted")
	}
	if _, err := NewServer(ServerConfig{Providers: []*Provider{nil}}); err == nil {
		t.Fatal("nil provider accepted")
	}
}

func TestTamperFieldsMatchProviders(t *testing.T) {
	sb := newSandbox(t, nil)
	all := TamperFields()
	for _, p := range sb.ps {
		if strings.Join(all[p.Name()], ",") != strings.Join(p.Tamperable(), ",") {
			t.Errorf("%s: TamperFields %v, Tamperable %v", p.Name(), all[p.Name()], p.Tamperable())
		}
	}
}

// Open serves every provider whose keys are in the directory, around the
// book it is given, so a second sandbox on one book knows the first's
// orders; a directory without keys is refused.
func TestOpen(t *testing.T) {
	keys := testKeys(t)
	book := NewOrderBook()
	srv, err := Open(filepath.Join(fixture.dir, "keys"), book, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(srv.Names()) != len(keys) || srv.Book() != book {
		t.Fatalf("names %v for %d providers; book shared: %v", srv.Names(), len(keys), srv.Book() == book)
	}
	if _, err := Open(t.TempDir(), nil, nil); err == nil {
		t.Fatal("an empty keys directory opened")
	}
}
