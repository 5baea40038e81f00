package alipay

import (
	"context"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

// QueryByOrderNo implements provider.OrderQuerier for lost-callback
// recovery (DESIGN.md section 11): alipay.trade.query answers by
// out_trade_no, with the same signing, verification and errors as
// QueryOrder. A trade Alipay does not know yet (the buyer has not opened
// the cashier) is query_mismatch, which the recovery worker reads as "not
// paid yet".
func (p *Provider) QueryByOrderNo(ctx context.Context, outTradeNo string) (*provider.QueryResult, error) {
	return p.QueryOrder(ctx, &notification.Notification{OutTradeNo: outTradeNo})
}

var _ provider.OrderQuerier = (*Provider)(nil)
