package alipay

import (
	"github.com/payguard/payguard/internal/reason"
)

// The methods of a browser's synchronous return: the page (PC) and the
// wap (mobile) payment's.
var returnMethods = map[string]bool{
	"alipay.trade.page.pay.return": true,
	"alipay.trade.wap.pay.return":  true,
}

// checkReturnShape holds a mode return request to what a browser return
// is (DESIGN.md section 3): its signed method names a return, and it is no
// async notification. An async notification's signed fields, sent as a
// return's query, verify too; forwarded as a return they were taken as a
// payment, unclaimed, as often as anyone replayed them.
func checkReturnShape(params params) error {
	for _, k := range []string{"notify_id", "notify_type", "trade_status"} {
		if params.has(k) {
			return reason.New(reason.Malformed, "an async notification (%s) on a return route", k)
		}
	}
	if m := params.get("method"); !returnMethods[m] {
		return reason.New(reason.Malformed, "method %s is not a browser return", quoteKey(m))
	}
	return nil
}
