package wechatpay

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// v3QueryPath is the query-by-merchant-order-number API.
const v3QueryPath = "/v3/pay/transactions/out-trade-no/"

// QueryOrder implements provider.Querier: GET
// /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid= signed with the
// merchant key. The answer's Wechatpay-* signature is verified with the
// same keys as notifications, and its timestamp must be within Tolerance,
// before anything in it is believed.
//
// Errors: query_unavailable for anything a retry may fix (no credentials,
// transport error, timeout, non-200, unsigned or forged or stale answer,
// bad JSON); query_mismatch when WeChat, in a signed answer, says the order
// does not exist (404 ORDER_NOT_EXIST) or answers for another order or
// merchant, and when the notification has no out_trade_no to ask about.
func (p *V3) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if p.merchantKey == nil {
		return nil, reason.New(reason.QueryUnavailable, "query not configured (merchant_serial and private_key)")
	}
	if n != nil && !confirmable(n) {
		return nil, provider.ErrNotQueryable
	}
	if n == nil || n.OutTradeNo == "" {
		return nil, reason.New(reason.QueryMismatch, "notification has no out_trade_no to query")
	}
	u, err := url.Parse(p.endpoint + v3QueryPath + url.PathEscape(n.OutTradeNo) + "?mchid=" + url.QueryEscape(p.mchID))
	if err != nil {
		return nil, reason.New(reason.QueryUnavailable, "cannot build query URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, reason.New(reason.QueryUnavailable, "cannot build query request")
	}
	auth, err := p.authorization(http.MethodGet, req.URL.RequestURI(), nil, p.now())
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "signing query")
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	resp, body, err := send(p.client, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return nil, reason.New(reason.QueryUnavailable, "query answered HTTP %d", resp.StatusCode)
	}
	now := p.now()
	ts, _, rerr := p.verifySigned(resp.Header, body, now)
	if rerr != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, rerr, "query answer not authenticated")
	}
	if d := now.Sub(ts); d > p.tolerance || d < -p.tolerance {
		return nil, reason.New(reason.QueryUnavailable, "query answer timestamp %d outside the %s window", ts.Unix(), p.tolerance)
	}
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "query answer")
	}
	if resp.StatusCode == http.StatusNotFound {
		if code, _, _ := jsonString(m, "code"); code == "ORDER_NOT_EXIST" {
			return nil, reason.New(reason.QueryMismatch, "WeChat Pay: order %s does not exist", short(n.OutTradeNo))
		}
		return nil, reason.New(reason.QueryUnavailable, "query answered HTTP 404")
	}
	return p.queryResult(m, n.OutTradeNo)
}

// queryResult reads a verified Transaction answer.
func (p *V3) queryResult(m map[string]any, outTradeNo string) (*provider.QueryResult, error) {
	bad := func(err error) error { return reason.Wrap(reason.QueryUnavailable, err, "query answer") }
	r := &provider.QueryResult{Raw: m}
	var err error
	if r.OutTradeNo, err = requireString(m, "out_trade_no"); err != nil {
		return nil, bad(err)
	}
	if r.OutTradeNo != outTradeNo {
		return nil, reason.New(reason.QueryMismatch, "answer is about another out_trade_no")
	}
	if r.Merchant, _, err = jsonString(m, "mchid"); err != nil {
		return nil, bad(err)
	}
	if r.Merchant != p.mchID {
		return nil, reason.New(reason.QueryMismatch, "answer mchid mismatch")
	}
	appid, present, err := jsonString(m, "appid")
	if err != nil {
		return nil, bad(err)
	}
	if p.appID != "" && present && appid != p.appID {
		return nil, reason.New(reason.QueryMismatch, "answer appid mismatch")
	}
	if r.TransactionID, _, err = jsonString(m, "transaction_id"); err != nil {
		return nil, bad(err)
	}
	state, err := requireString(m, "trade_state")
	if err != nil {
		return nil, bad(err)
	}
	r.Status = v3TradeStatus(state)
	// WeChat documents amount as returned once paid; an unpaid order may
	// come without it, which is amount 0 and no currency.
	amount, err := jsonObject(m, "amount")
	if err != nil {
		return nil, bad(err)
	}
	if amount == nil {
		if r.Status == notification.StatusPaid || r.Status == notification.StatusRefunded {
			return nil, bad(fmt.Errorf("amount missing for trade_state %s", state))
		}
		return r, nil
	}
	if r.Amount, err = jsonFen(amount, "total"); err != nil {
		return nil, bad(fmt.Errorf("amount.%v", err))
	}
	if r.Currency, err = v3Currency(amount); err != nil {
		return nil, bad(err)
	}
	return r, nil
}

// authorization builds the WECHATPAY2-SHA256-RSA2048 Authorization value:
// SHA256withRSA with the merchant key over
// METHOD\nrequest-URI\ntimestamp\nnonce\nbody\n.
func (p *V3) authorization(method, uri string, body []byte, now time.Time) (string, error) {
	nonce := randomNonce(32)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig, err := signV3Message(p.merchantKey, method+"\n"+uri+"\n"+ts+"\n"+nonce+"\n", body)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`%s mchid="%s",nonce_str="%s",timestamp="%s",serial_no="%s",signature="%s"`,
		SignatureTypeRSA, p.mchID, nonce, ts, p.merchantSerial, sig), nil
}

// signV3Message signs prefix‖body‖"\n" with SHA256withRSA and returns the
// base64 signature. Every v3 signed string ends with the body and "\n".
func signV3Message(key *rsa.PrivateKey, prefix string, body []byte) (string, error) {
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(body)
	h.Write([]byte{'\n'})
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h.Sum(nil))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
