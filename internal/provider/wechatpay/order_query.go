package wechatpay

import (
	"context"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

// QueryByOrderNo implements provider.OrderQuerier for lost-callback
// recovery (DESIGN.md section 11): v3's GET
// /v3/pay/transactions/out-trade-no/{no} answers by the merchant's order
// number, with QueryOrder's verification and errors (ORDER_NOT_EXIST is
// query_mismatch).
func (p *V3) QueryByOrderNo(ctx context.Context, outTradeNo string) (*provider.QueryResult, error) {
	return p.QueryOrder(ctx, &notification.Notification{OutTradeNo: outTradeNo})
}

// QueryByOrderNo implements provider.OrderQuerier: v2's orderquery takes
// out_trade_no, with QueryOrder's verification and errors (ORDERNOTEXIST
// is query_mismatch).
func (p *V2) QueryByOrderNo(ctx context.Context, outTradeNo string) (*provider.QueryResult, error) {
	return p.QueryOrder(ctx, &notification.Notification{OutTradeNo: outTradeNo})
}

var (
	_ provider.OrderQuerier = (*V3)(nil)
	_ provider.OrderQuerier = (*V2)(nil)
)
