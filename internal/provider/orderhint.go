package provider

import "context"

type orderHintsKey struct{}

// WithOrderHints returns ctx carrying the fields a watched order was
// registered with beside its number (DESIGN.md section 11: UnionPay's
// queryTrans.do finds an order by orderId and txnTime, so a UnionPay watch
// registration carries "txn_time"). OrderQuerier.QueryByOrderNo reads
// them with OrderHint; providers that need none ignore them. hints is not
// copied: the caller must not change it afterwards.
func WithOrderHints(ctx context.Context, hints map[string]string) context.Context {
	return context.WithValue(ctx, orderHintsKey{}, hints)
}

// OrderHint is the hint of that name WithOrderHints attached to ctx, ""
// when there is none.
func OrderHint(ctx context.Context, name string) string {
	h, _ := ctx.Value(orderHintsKey{}).(map[string]string)
	return h[name]
}
