package wechatpay

import (
	"bytes"
	"context"
	"net/http"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// QueryOrder implements provider.Querier with orderquery: a POST of
// appid, mch_id, out_trade_no, nonce_str, sign_type and sign. The answer
// must be signed with the same rule as notifications before anything in it
// is believed.
//
// Errors: query_unavailable for transport errors, non-200, unparseable or
// unsigned or forged answers, and return_code FAIL (a communication or
// request error WeChat does not sign, typically our own misconfiguration);
// query_mismatch when a signed answer says ORDERNOTEXIST, or answers for
// another order or merchant, or the notification has no out_trade_no.
func (p *V2) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if n != nil && !confirmable(n) {
		return nil, provider.ErrNotQueryable
	}
	if n == nil || n.OutTradeNo == "" {
		return nil, reason.New(reason.QueryMismatch, "notification has no out_trade_no to query")
	}
	q := map[string]string{
		"appid":        p.appID,
		"mch_id":       p.mchID,
		"out_trade_no": n.OutTradeNo,
		"nonce_str":    randomNonce(32),
		"sign_type":    p.signType,
	}
	q["sign"] = v2Sign(q, p.apiKey, p.signType)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(renderXML("xml", q)))
	if err != nil {
		return nil, reason.New(reason.QueryUnavailable, "cannot build query request")
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	resp, body, err := send(p.client, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, reason.New(reason.QueryUnavailable, "query answered HTTP %d", resp.StatusCode)
	}
	f, err := ParseXML(body)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "query answer")
	}
	if f["return_code"] != "SUCCESS" {
		return nil, reason.New(reason.QueryUnavailable, "query return_code %s: %s", short(f["return_code"]), short(f["return_msg"]))
	}
	if rerr := checkV2Sign(f, p.apiKey, p.signType); rerr != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, rerr, "query answer not authenticated")
	}
	if f["appid"] != p.appID || f["mch_id"] != p.mchID {
		return nil, reason.New(reason.QueryMismatch, "answer appid or mch_id mismatch")
	}
	switch f["result_code"] {
	case "SUCCESS":
	case "FAIL":
		if f["err_code"] == "ORDERNOTEXIST" {
			return nil, reason.New(reason.QueryMismatch, "WeChat Pay: order %s does not exist", short(n.OutTradeNo))
		}
		return nil, reason.New(reason.QueryUnavailable, "query result_code FAIL: %s", short(f["err_code"]))
	default:
		return nil, reason.New(reason.QueryUnavailable, "query result_code missing")
	}
	if f["out_trade_no"] != n.OutTradeNo {
		return nil, reason.New(reason.QueryMismatch, "answer is about another out_trade_no")
	}
	if f["trade_state"] == "" {
		return nil, reason.New(reason.QueryUnavailable, "query answer: trade_state missing")
	}
	r := &provider.QueryResult{
		Status:        v3TradeStatus(f["trade_state"]), // v2 and v3 share the words
		OutTradeNo:    f["out_trade_no"],
		TransactionID: f["transaction_id"],
		Merchant:      f["mch_id"],
		Currency:      v2Currency(f["fee_type"]),
		Raw:           rawFields(f, "sign"),
	}
	paid := r.Status == notification.StatusPaid || r.Status == notification.StatusRefunded
	if r.Amount, err = v2Fen(f, "total_fee", paid); err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "query answer")
	}
	return r, nil
}
