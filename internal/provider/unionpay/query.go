package unionpay

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// OrderTimeHint is the provider.OrderHint name QueryByOrderNo reads the
// order's txnTime from: queryTrans.do finds an order by orderId and
// txnTime together, so a lookup by order number alone cannot be made.
// A shop's watch registration carries it as txn_time (DESIGN.md section 11).
const OrderTimeHint = "txn_time"

// Query response codes (respCode of the answer itself).
const (
	respOK       = "00"
	respNotFound = "34" // no such transaction
)

// QueryOrder asks UnionPay (queryTrans.do) about the transaction the
// notification reports: its orderId and txnTime. The answer is believed
// only after its signature and certificate pass the checks a notification
// passes. A refund is confirmed by the refund's own transaction: its
// amount must be the notification's refunded amount.
//
// Errors are *reason.Error: query_mismatch when UnionPay says there is no
// such transaction, or the answer is about another transaction type or
// refund amount; query_unavailable for everything a retry may fix.
func (p *Provider) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if n == nil {
		return nil, reason.New(reason.QueryUnavailable, "unionpay: no notification to query")
	}
	txnTime, _ := n.Fields()["txnTime"].(string)
	if txnTime == "" && !n.OccurredAt.IsZero() {
		txnTime = n.OccurredAt.In(beijing).Format(TimeLayout)
	}
	t, res, err := p.query(ctx, n.OutTradeNo, txnTime)
	if err != nil {
		return nil, err
	}
	if want, _ := n.Fields()["txnType"].(string); want != "" && t.txnType != want {
		return nil, reason.New(reason.QueryMismatch, "txnType: notification says %s, unionpay says %s", quoteKey(want), quoteKey(t.txnType))
	}
	if n.Status == notification.StatusRefunded {
		if t.txnAmt != n.RefundAmount {
			return nil, reason.New(reason.QueryMismatch, "refund amount: notification says %d, unionpay says %d", n.RefundAmount, t.txnAmt)
		}
		if !t.hasOrigAmt {
			// The refund's answer speaks to the refund, whose amount was
			// just compared; the payment's amount is not in it, so the
			// notification's stands (the pipeline requires a refund to be
			// at most the trade's amount).
			res.Amount = n.Amount
		}
	}
	return res, nil
}

// QueryByOrderNo looks an order up by its orderId (lost-callback
// recovery). queryTrans.do also needs the order's txnTime: it comes from
// provider.OrderHint(ctx, OrderTimeHint) as yyyyMMddHHmmss (Beijing
// time); without it the query cannot be made and is query_unavailable. A
// transaction UnionPay does not know is query_mismatch; one still in
// process is pending.
func (p *Provider) QueryByOrderNo(ctx context.Context, outTradeNo string) (*provider.QueryResult, error) {
	txnTime := provider.OrderHint(ctx, OrderTimeHint)
	if txnTime == "" {
		return nil, reason.New(reason.QueryUnavailable, "unionpay: a query by order number needs the order's txnTime (%s)", OrderTimeHint)
	}
	_, res, err := p.query(ctx, outTradeNo, txnTime)
	return res, err
}

// query sends queryTrans.do for orderId and txnTime and returns the
// verified answer.
func (p *Provider) query(ctx context.Context, orderID, txnTime string) (*txnFields, *provider.QueryResult, error) {
	if p.signKey == nil {
		return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: no merchant signing key, query not configured")
	}
	if orderID == "" {
		return nil, nil, reason.New(reason.QueryMismatch, "unionpay: no orderId to query")
	}
	if _, ok := parseTxnTime(txnTime); !ok {
		return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: txnTime %s is not yyyyMMddHHmmss", quoteKey(txnTime))
	}
	body, err := p.queryRequest(orderID, txnTime)
	if err != nil {
		return nil, nil, reason.Wrap(reason.QueryUnavailable, err, "unionpay: signing the query")
	}
	answer, err := p.post(ctx, body)
	if err != nil {
		return nil, nil, err
	}
	return p.readAnswer(answer, orderID, txnTime, p.now())
}

// QueryParams are the parameters of a queryTrans.do request for orderId
// and txnTime, before certId and signature.
func QueryParams(merID, orderID, txnTime string) map[string]string {
	return map[string]string{
		"version":    Version,
		"encoding":   encodingUTF8,
		"signMethod": SignMethod,
		"txnType":    "00",
		"txnSubType": "00",
		"bizType":    "000000",
		"accessType": "0",
		"merId":      merID,
		"orderId":    orderID,
		"txnTime":    txnTime,
	}
}

// queryRequest is the signed form body of the query.
func (p *Provider) queryRequest(orderID, txnTime string) ([]byte, error) {
	params := QueryParams(p.merID, orderID, txnTime)
	params["certId"] = p.certID
	sig, err := Sign(p.signKey, params)
	if err != nil {
		return nil, err
	}
	params[fieldSignature] = sig
	return EncodeForm(params), nil
}

func (p *Provider) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "unionpay: building the query")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "unionpay: query failed")
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body) // the client caps the size
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "unionpay: reading the answer")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, reason.New(reason.QueryUnavailable, "unionpay: query answered HTTP %d", resp.StatusCode)
	}
	return answer, nil
}

// readAnswer verifies a queryTrans.do answer to the question (orderID,
// txnTime) and maps it.
func (p *Provider) readAnswer(answer []byte, orderID, txnTime string, now time.Time) (*txnFields, *provider.QueryResult, error) {
	unavailable := func(err error, what string) error {
		return reason.Wrap(reason.QueryUnavailable, err, "unionpay: "+what)
	}
	f, err := parseAnswer(answer)
	if err != nil {
		return nil, nil, unavailable(err, "answer does not parse")
	}
	if !f.Has(fieldSignature) {
		// A refusal of the request itself (bad signature, bad certId)
		// comes unsigned: for the log only.
		return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: unsigned answer, respCode %s (unverified)", quoteKey(f.Value("respCode")))
	}
	if err := p.authenticate(f, now); err != nil {
		return nil, nil, unavailable(err, "answer does not authenticate")
	}
	switch code := f.Value("respCode"); code {
	case respOK:
	case respNotFound:
		return nil, nil, reason.New(reason.QueryMismatch, "order unknown to unionpay")
	default:
		return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: query answered respCode %s", quoteKey(code))
	}
	if got := f.Value("merId"); got != p.merID {
		return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: answer is for merId %s", quoteKey(got))
	}
	if f.Value("orderId") != orderID || f.Value("txnTime") != txnTime {
		return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: answer is about another order")
	}
	for _, k := range []string{"txnType", "origRespCode", "txnAmt", "currencyCode"} {
		if f.Value(k) == "" {
			return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: answer has no %s", k)
		}
	}
	t, err := readTxn(txnTextOf(f, "origRespCode"))
	if err != nil {
		return nil, nil, unavailable(err, "answer")
	}
	raw := make(map[string]any, f.Len())
	for i := range f.Len() {
		k, v := f.At(i)
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, reason.New(reason.QueryUnavailable, "unionpay: answer's %s is not valid UTF-8", quoteKey(strings.ToValidUTF8(k, "?")))
		}
		if k != fieldSignature && k != fieldCert {
			raw[k] = v
		}
	}
	if acc, ok := raw["accNo"].(string); ok {
		raw["accNo"] = maskPAN(acc)
	}
	return &t, &provider.QueryResult{
		Status:        t.status,
		Amount:        t.amount,
		Currency:      t.currency,
		OutTradeNo:    t.orderID,
		TransactionID: t.queryID,
		Merchant:      p.merID,
		Raw:           raw,
	}, nil
}
