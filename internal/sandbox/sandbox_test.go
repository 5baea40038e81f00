package sandbox

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOrderBookBoundedAndConcurrent(t *testing.T) {
	b := NewOrderBook()
	b.max = 3
	for i, no := range []string{"a", "b", "c", "d"} {
		b.Put(Order{Provider: "alipay", OutTradeNo: no, TransactionID: "T" + no, Amount: 100})
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
				big.Put(Order{Provider: "alipay", OutTradeNo: no, Amount: 100})
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

// Ids made in one second must not meet: 200,000 of them, all distinct, of
// the asked length. (Random digits fail this: seven of them collide among
// a thousand ids one time in twenty.)
func TestUniqueDigitsDoNotRepeat(t *testing.T) {
	seen := make(map[string]bool, 200000)
	for range 200000 {
		d := UniqueDigits(7)
		if len(d) != 7 || strings.Trim(d, "0123456789") != "" {
			t.Fatalf("UniqueDigits(7) = %q", d)
		}
		if seen[d] {
			t.Fatalf("UniqueDigits(7) repeated %q", d)
		}
		seen[d] = true
	}
	now := time.Now()
	orders := map[string]bool{}
	for range 5000 {
		no := NewOutTradeNo(now)
		if orders[no] {
			t.Fatalf("NewOutTradeNo repeated %q within one second", no)
		}
		orders[no] = true
	}
}
