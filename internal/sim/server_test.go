package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestControlAPI(t *testing.T) {
	sb := newSandbox(t, "")
	post := func(body string) (int, string) {
		resp, err := http.Post(sb.http.URL+"/_sim/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(`{"provider":"alipay","out_trade_no":"C-1","amount":"1.5"}`)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	var o Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if o.Amount != "1.50" || o.QueryAmount != "1.50" || o.Status != "TRADE_SUCCESS" || o.TransactionID == "" || o.AppID != DefaultAlipayAppID {
		t.Fatalf("registered order not prepared: %+v", o)
	}
	// Re-registering updates what the sandbox answers.
	if code, body := post(`{"provider":"alipay","out_trade_no":"C-1","amount":"1.5","query_amount":"0.01"}`); code != http.StatusCreated {
		t.Fatalf("re-register: %d %s", code, body)
	}
	if got, _ := sb.srv.Book().Get("alipay", "C-1"); got.QueryAmount != "0.01" || sb.srv.Book().Len() != 1 {
		t.Fatalf("update: %+v, %d orders", got, sb.srv.Book().Len())
	}

	for _, bad := range []struct{ body, want string }{
		{`{"provider":"stripe","out_trade_no":"C-2","amount":"1"}`, "not simulated"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":"1","colour":"red"}`, "unknown field"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":1}`, "order JSON"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":"1"} {}`, "after the object"},
		{`{"provider":"alipay","out_trade_no":"C 2","amount":"1"}`, "out_trade_no"},
		{`{"provider":"alipay","out_trade_no":"C-2","amount":"1.234"}`, "amount"},
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
	if len(infos) != 3 || infos[0].Name != "alipay" || infos[0].Endpoint != sb.http.URL+"/alipay/gateway.do" ||
		infos[1].Name != "wechatpay_v2" || infos[2].Endpoint != sb.http.URL+"/wechatpay" {
		t.Fatalf("providers: %+v", infos)
	}
}

func TestServerHandles(t *testing.T) {
	sb := newSandbox(t, "")
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
	if _, err := NewServer(ServerConfig{Providers: []Provider{sb.ali, sb.ali}}); err == nil {
		t.Fatal("duplicate provider accepted")
	}
	if _, err := NewServer(ServerConfig{Providers: []Provider{nil}}); err == nil {
		t.Fatal("nil provider accepted")
	}
}

func TestOrderBookBoundedAndConcurrent(t *testing.T) {
	b := NewOrderBook()
	b.max = 3
	for i, no := range []string{"a", "b", "c", "d"} {
		b.Put(Order{Provider: "alipay", OutTradeNo: no, TransactionID: "T" + no, Amount: "1.00"})
		if b.Len() != min(i+1, 3) {
			t.Fatalf("len %d after %d puts", b.Len(), i+1)
		}
	}
	if _, ok := b.Get("alipay", "a"); ok {
		t.Fatal("oldest order kept beyond the bound")
	}
	if o, ok := b.FindTransaction("alipay", "Td"); !ok || o.OutTradeNo != "d" {
		t.Fatal("FindTransaction")
	}
	if _, ok := b.FindTransaction("alipay", ""); ok {
		t.Fatal("empty transaction id found")
	}
	list := b.List()
	if len(list) != 3 || list[0].OutTradeNo != "b" || list[2].OutTradeNo != "d" {
		t.Fatalf("list %+v", list)
	}

	// Many writers and readers at once (run with -race).
	var wg sync.WaitGroup
	big := NewOrderBook()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				no := NewOutTradeNo(time.Now())
				big.Put(Order{Provider: "alipay", OutTradeNo: no, Amount: "1.00"})
				big.Get("alipay", no)
				_ = big.List()
			}
		}()
	}
	wg.Wait()
	if big.Len() == 0 {
		t.Fatal("no orders")
	}
}

func TestTamperFieldsMatchProviders(t *testing.T) {
	sb := newSandbox(t, "")
	all := TamperFields()
	for _, p := range []Provider{sb.ali, sb.v3, sb.v2} {
		if strings.Join(all[p.Name()], ",") != strings.Join(p.Tamperable(), ",") {
			t.Errorf("%s: TamperFields %v, Tamperable %v", p.Name(), all[p.Name()], p.Tamperable())
		}
	}
}
