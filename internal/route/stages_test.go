package route

import (
	"testing"
	"time"

	"github.com/payguard/payguard/internal/policy"
)

func TestPolicyStages(t *testing.T) {
	pols, lookup, err := PolicyStages([]policy.Config{policy.ConfigOf("notification.amount < 100000"), policy.ConfigOf("notification.currency == 'CNY'")},
		"https://shop.example/orders/{out_trade_no}", 3*time.Second)
	if err != nil || len(pols) != 2 || lookup == nil {
		t.Fatalf("%d policies, lookup %v, %v", len(pols), lookup, err)
	}
	if pols, lookup, err := PolicyStages(nil, "", 0); pols != nil || lookup != nil || err != nil {
		t.Errorf("none: %v %v %v", pols, lookup, err)
	}
	if _, _, err := PolicyStages(nil, "", time.Second); err == nil || err.Error() != "order_timeout without order_lookup" {
		t.Errorf("timeout alone: %v", err)
	}
	if _, _, err := PolicyStages([]policy.Config{policy.ConfigOf("notification.amount +")}, "", 0); err == nil {
		t.Error("a policy that does not compile was built")
	}
	if _, _, err := PolicyStages(nil, "https://shop.example/orders", 0); err == nil {
		t.Error("an order_lookup without {out_trade_no} was built")
	}
}
