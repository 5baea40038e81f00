package alipay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// QueryMethod is the open-platform method of the reverse query.
const QueryMethod = "alipay.trade.query"

// maxResponse bounds what is read of a query answer (a real one is ~1 KiB).
const maxResponse = 1 << 20

// ResponseKey is the member of a gateway answer that holds method's
// response and that the signature covers: "alipay.trade.query" answers in
// "alipay_trade_query_response".
func ResponseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// QueryOrder asks Alipay (alipay.trade.query) about the notification's
// order. The answer is believed only after its signature, over the raw
// bytes of alipay_trade_query_response, verifies with the Alipay key.
//
// Errors are *reason.Error: query_mismatch when Alipay says the trade does
// not exist (40004 ACQ.TRADE_NOT_EXIST) or the notification names no order;
// query_unavailable for everything else (no private key, network, timeout,
// HTTP status, an unsigned, forged or unparseable answer, other codes), all
// of which a later retry may fix.
func (p *Provider) QueryOrder(ctx context.Context, n *notification.Notification) (*provider.QueryResult, error) {
	if p.privKey == nil {
		return nil, reason.New(reason.QueryUnavailable, "alipay: no private key, query not configured")
	}
	if n == nil {
		return nil, reason.New(reason.QueryUnavailable, "alipay: no notification to query")
	}
	if n.Status == notification.StatusOther {
		// Not a trade notification (alipay.open.servicemarket.order.notify
		// and the like): alipay.trade.query has nothing to say about it.
		return nil, provider.ErrNotQueryable
	}
	var biz []byte
	switch {
	case n.OutTradeNo != "":
		biz = appendBizContent(make([]byte, 0, 20+len(n.OutTradeNo)), "out_trade_no", n.OutTradeNo)
	case n.TransactionID != "":
		biz = appendBizContent(make([]byte, 0, 16+len(n.TransactionID)), "trade_no", n.TransactionID)
	default:
		return nil, reason.New(reason.QueryMismatch, "alipay: notification names no order to query")
	}
	raw, err := p.call(ctx, QueryMethod, biz)
	if err != nil {
		return nil, err
	}
	r, rawMap, err := readAnswer(raw)
	if err != nil {
		return nil, err
	}
	currency, amount, status, err := r.money()
	if err != nil {
		return nil, err
	}
	return &provider.QueryResult{
		Status:        status,
		Amount:        amount,
		Currency:      currency,
		OutTradeNo:    r.OutTradeNo,
		TransactionID: r.TradeNo,
		Merchant:      p.appID,
		Raw:           rawMap,
	}, nil
}

// call signs an open-platform request, posts it with the provider's
// client and returns the answer's response object once its signature
// verifies.
func (p *Provider) call(ctx context.Context, method string, bizContent []byte) ([]byte, error) {
	form, err := p.queryForm(method, bizContent)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "alipay: signing the query")
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(form))
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "alipay: building the query")
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	resp, err := p.client.Do(hreq)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "alipay: query failed")
	}
	defer resp.Body.Close()
	body, err := provider.ReadLimited(resp, maxResponse)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "alipay: reading the answer")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, reason.New(reason.QueryUnavailable, "alipay: query answered HTTP %d", resp.StatusCode)
	}
	if len(body) > maxResponse {
		return nil, reason.New(reason.QueryUnavailable, "alipay: answer larger than %d bytes", maxResponse)
	}
	return p.VerifyResponse(body, ResponseKey(method))
}

// tradeAnswer is alipay.trade.query's signed answer.
type tradeAnswer struct {
	Code          string `json:"code"`
	Msg           string `json:"msg"`
	SubCode       string `json:"sub_code"`
	TradeNo       string `json:"trade_no"`
	OutTradeNo    string `json:"out_trade_no"`
	TradeStatus   string `json:"trade_status"`
	TotalAmount   string `json:"total_amount"`
	TransCurrency string `json:"trans_currency"`
	SendPayDate   string `json:"send_pay_date"`
}

// readAnswer reads a verified answer in one pass: its members as
// encoding/json decodes them into a map with UseNumber (the result's Raw)
// and, from that map, the trade's fields. What strictjson refuses and
// encoding/json accepts (invalid UTF-8, a repeated key, deep nesting), and
// a key that encoding/json's case-insensitive matching could give a field
// to, are read by encoding/json itself, as before.
func readAnswer(raw []byte) (*tradeAnswer, map[string]any, error) {
	m, err := strictjson.DecodeObject(raw)
	if err != nil {
		return readAnswerByEncodingJSON(raw)
	}
	r, exact, err := tradeFields(m)
	if !exact {
		r, err = decodeTradeAnswer(raw)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := r.judge(); err != nil {
		return nil, nil, err
	}
	return r, m, nil
}

// readAnswerByEncodingJSON is readAnswer on encoding/json alone: the
// struct, then the map. (raw passed scanObject, so the map always
// decodes: encoding/json accepts every JSON text scanObject does.)
func readAnswerByEncodingJSON(raw []byte) (*tradeAnswer, map[string]any, error) {
	r, err := readTradeAnswer(raw)
	if err != nil {
		return nil, nil, err
	}
	var rawMap map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rawMap); err != nil {
		return nil, nil, reason.New(reason.QueryUnavailable, "alipay: signed answer is not an object")
	}
	return r, rawMap, nil
}

// errAnswerTypes is a trade field that is not a string (or null).
func errAnswerTypes() error {
	return reason.New(reason.QueryUnavailable, "alipay: signed answer has unexpected field types")
}

// tradeFields reads tradeAnswer's fields out of m as json.Unmarshal would
// have set them: a string is the field's value, null leaves it empty,
// anything else is errAnswerTypes. exact is false when a key of m has an
// upper-case or non-ASCII letter: json.Unmarshal matches keys to fields
// case-insensitively (and with Unicode folding), which only it decides.
func tradeFields(m map[string]any) (r *tradeAnswer, exact bool, err error) {
	for k := range m {
		for i := 0; i < len(k); i++ {
			if c := k[i]; c >= 0x80 || 'A' <= c && c <= 'Z' {
				return nil, false, nil
			}
		}
	}
	r = &tradeAnswer{}
	for _, f := range [...]struct {
		key string
		dst *string
	}{
		{"code", &r.Code}, {"msg", &r.Msg}, {"sub_code", &r.SubCode}, {"trade_no", &r.TradeNo},
		{"out_trade_no", &r.OutTradeNo}, {"trade_status", &r.TradeStatus}, {"total_amount", &r.TotalAmount},
		{"trans_currency", &r.TransCurrency}, {"send_pay_date", &r.SendPayDate},
	} {
		switch v := m[f.key].(type) {
		case string:
			*f.dst = v
		case nil: // absent or null: json.Unmarshal leaves the field empty
		default:
			return nil, true, errAnswerTypes()
		}
	}
	return r, true, nil
}

// decodeTradeAnswer is the answer's fields by json.Unmarshal.
func decodeTradeAnswer(raw []byte) (*tradeAnswer, error) {
	var r tradeAnswer
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, errAnswerTypes()
	}
	return &r, nil
}

// readTradeAnswer reads a verified answer: code 10000, or the trade's
// absence (query_mismatch); any other code is query_unavailable.
func readTradeAnswer(raw []byte) (*tradeAnswer, error) {
	r, err := decodeTradeAnswer(raw)
	if err != nil {
		return nil, err
	}
	if err := r.judge(); err != nil {
		return nil, err
	}
	return r, nil
}

// judge is the answer's code: 10000, or the trade's absence
// (query_mismatch); any other code is query_unavailable.
func (r *tradeAnswer) judge() error {
	switch {
	case r.Code == "10000":
		return nil
	case r.Code == "40004" && r.SubCode == "ACQ.TRADE_NOT_EXIST":
		return reason.New(reason.QueryMismatch, "order unknown to alipay")
	default:
		return reason.New(reason.QueryUnavailable, "alipay: query answered code %s sub_code %s", quoteKey(r.Code), quoteKey(r.SubCode))
	}
}

// money reads the trade's currency, amount and status.
func (r *tradeAnswer) money() (currency string, amount int64, status notification.Status, err error) {
	currency = "CNY"
	if r.TransCurrency != "" {
		if !notification.IsCurrencyCode(r.TransCurrency) {
			return "", 0, "", reason.New(reason.QueryUnavailable, "alipay: answer's trans_currency is not an ISO 4217 code")
		}
		currency = r.TransCurrency
	}
	amount, err = notification.ParseDecimal(r.TotalAmount, notification.CurrencyExponent(currency))
	if err != nil {
		return "", 0, "", reason.New(reason.QueryUnavailable, "alipay: answer's total_amount is not a plain decimal")
	}
	// The query answer carries no refund_fee. TRADE_CLOSED is either an
	// unpaid trade that timed out or a paid one closed by a full refund;
	// only the latter has a send_pay_date (when the money went to the
	// seller), and it reads refunded, as its notification did.
	status, err = mapStatus(r.TradeStatus, "", notification.CurrencyExponent(currency))
	if err != nil {
		return "", 0, "", reason.Wrap(reason.QueryUnavailable, err, "alipay")
	}
	if status == notification.StatusClosed && r.SendPayDate != "" {
		status = notification.StatusRefunded
	}
	return currency, amount, status, nil
}

// queryForm builds and signs the form body of an open-platform request
// whose biz_content is bizContent.
func (p *Provider) queryForm(method string, bizContent []byte) ([]byte, error) {
	var store [10]requestParam
	var ts [len(timeLayout)]byte
	params := p.requestParams(store[:], method, bizContent, p.now().In(beijing).AppendFormat(ts[:0], timeLayout))
	content := make([]byte, 0, 256+len(bizContent))
	content = appendRequestSignContent(content, params)
	sig, err := signPKCS1(p.privKey, p.hash, content)
	if err != nil {
		return nil, err
	}
	// Escaping can triple a value; the rest is the base64 signature.
	return appendRequestForm(make([]byte, 0, len(content)+len(content)/2+len(sig)*2), params, sig), nil
}

// requestSignContent is what a request's sign covers: the sorted non-empty
// parameters except sign, `k=v&...` (sign_type included), as the SDKs sign.
func requestSignContent(params map[string]string) []byte {
	return joinSorted(params, func(k, v string) bool { return k != "sign" && v != "" })
}

// joinSorted is `k=v&...` over the parameters keep accepts, sorted by key
// in byte order: the shape of every Alipay signed string.
func joinSorted(params map[string]string, keep func(k, v string) bool) []byte {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if keep(k, v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b []byte
	for i, k := range keys {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, params[k]...)
	}
	return b
}

func signPKCS1(k *rsa.PrivateKey, h crypto.Hash, msg []byte) ([]byte, error) {
	if h == crypto.SHA1 {
		d := sha1.Sum(msg)
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA1, d[:])
	}
	d := sha256.Sum256(msg)
	return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
}

// VerifyResponse checks a gateway answer's signature and returns the raw
// bytes of its responseKey member (e.g. "alipay_trade_query_response"),
// exactly as they appear in body: those bytes are what Alipay signed. In
// certificate mode an alipay_cert_sn in the answer must be the configured
// certificate's (absent, the configured key is used, as the Java SDK
// does). Errors are *reason.Error with code query_unavailable.
func (p *Provider) VerifyResponse(body []byte, responseKey string) ([]byte, error) {
	members, err := scanObject(body)
	if err != nil {
		return nil, reason.New(reason.QueryUnavailable, "alipay: answer is not a JSON object")
	}
	var raw, errResp []byte
	var sign, certSN string
	repeat := firstRepeat(members)
	for i, m := range members {
		if i == repeat {
			return nil, reason.New(reason.QueryUnavailable, "alipay: answer repeats member %s", quoteKey(m.key))
		}
		switch m.key {
		case responseKey:
			raw = m.raw
		case "error_response":
			errResp = m.raw
		case "sign":
			if sign, err = jsonString(m.raw); err != nil {
				return nil, reason.New(reason.QueryUnavailable, "alipay: answer's sign is not a string")
			}
		case "alipay_cert_sn":
			if certSN, err = jsonString(m.raw); err != nil {
				return nil, reason.New(reason.QueryUnavailable, "alipay: answer's alipay_cert_sn is not a string")
			}
		}
	}
	if raw == nil {
		if errResp != nil {
			// The gateway refused the request itself (bad app_id, bad
			// request signature, ...). Unverified: for the log only.
			var e struct {
				Code    string `json:"code"`
				SubCode string `json:"sub_code"`
			}
			_ = json.Unmarshal(errResp, &e) // best effort, for the detail
			return nil, reason.New(reason.QueryUnavailable, "alipay: gateway error_response code %s sub_code %s (unverified)", quoteKey(e.Code), quoteKey(e.SubCode))
		}
		return nil, reason.New(reason.QueryUnavailable, "alipay: answer has no %s", quoteKey(responseKey))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, reason.New(reason.QueryUnavailable, "alipay: %s is not an object", quoteKey(responseKey))
	}
	if sign == "" {
		return nil, reason.New(reason.QueryUnavailable, "alipay: answer is unsigned")
	}
	if p.certMode && certSN != "" && certSN != p.certSN {
		return nil, reason.New(reason.QueryUnavailable, "alipay: answer signed by unknown alipay_cert_sn %s", quoteKey(certSN))
	}
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return nil, reason.New(reason.QueryUnavailable, "alipay: answer's sign is not base64")
	}
	if verifyPKCS1(p.alipayKey, p.hash, raw, sig) != nil {
		return nil, reason.New(reason.QueryUnavailable, "alipay: answer's signature does not verify")
	}
	return raw, nil
}

// firstRepeat is the index of the first member whose key an earlier
// member has, or -1. A gateway answer has two or three members: a map
// for them would cost more than comparing each pair.
func firstRepeat(members []jsonMember) int {
	if len(members) <= 8 {
		for i := 1; i < len(members); i++ {
			for _, m := range members[:i] {
				if m.key == members[i].key {
					return i
				}
			}
		}
		return -1
	}
	seen := make(map[string]struct{}, len(members))
	for i, m := range members {
		if _, ok := seen[m.key]; ok {
			return i
		}
		seen[m.key] = struct{}{}
	}
	return -1
}
