package sim

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider/alipay"
)

// DefaultAlipayAppID is the app_id of simulated Alipay orders when none is
// given; the example Caddyfiles configure it.
const DefaultAlipayAppID = "2021000000000001"

// alipayStatuses are the trade_status words (providers.md section 1).
var alipayStatuses = []string{"WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"}

// alipayTamperable: the money and identity fields, the signature and its
// type, and the event id.
var alipayTamperable = []string{
	"total_amount", "out_trade_no", "trade_no", "trade_status", "app_id",
	"seller_id", "notify_id", "notify_time", "sign", "sign_type",
}

// AlipayConfig configures the simulated Alipay.
type AlipayConfig struct {
	// Key is the sandbox's stand-in for Alipay's private key: it signs
	// notifications and query answers.
	Key *rsa.PrivateKey
	// AppPublicKey is the merchant app's public key: the query API checks
	// payguard's signed requests with it. Without it the query API refuses
	// every request (isv.invalid-signature).
	AppPublicKey *rsa.PublicKey
	// Now is the clock of the query API; time.Now when nil.
	Now func() time.Time
	// Logf, when set, is told about every query answered.
	Logf func(format string, args ...any)
}

// Alipay simulates Alipay: trade_status_sync notifications (RSA2, rule V1)
// and alipay.trade.query at /alipay/gateway.do.
type Alipay struct {
	signer *alipay.Signer
	appPub *rsa.PublicKey
	now    func() time.Time
	logf   func(string, ...any)
}

// NewAlipay returns the simulated Alipay.
func NewAlipay(cfg AlipayConfig) (*Alipay, error) {
	if cfg.Key == nil {
		return nil, errors.New("alipay simulator: no Alipay private key")
	}
	a := &Alipay{
		signer: &alipay.Signer{Key: cfg.Key, SignType: alipay.SignTypeRSA2},
		appPub: cfg.AppPublicKey,
		now:    cfg.Now,
		logf:   cfg.Logf,
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.logf == nil {
		a.logf = func(string, ...any) {}
	}
	return a, nil
}

// Name is "alipay".
func (a *Alipay) Name() string { return alipay.Name }

// Tamperable lists the fields BuildNotify can alter after signing.
func (a *Alipay) Tamperable() []string { return append([]string(nil), alipayTamperable...) }

// Endpoint is the gateway URL under base.
func (a *Alipay) Endpoint(base string) string {
	return strings.TrimRight(base, "/") + "/alipay/gateway.do"
}

// Prepare fills Alipay's numbers in Alipay's shapes: trade_no
// yyyyMMdd22001 + 15 digits, notify_id yyyyMMdd00222 + 21 digits, a 2088
// buyer id.
func (a *Alipay) Prepare(o *Order, now time.Time) error {
	if err := checkCommon(o, alipay.Name); err != nil {
		return err
	}
	if o.MchID != "" {
		return errors.New("alipay orders have no mch_id")
	}
	day := now.In(beijing).Format("20060102")
	if o.AppID == "" {
		o.AppID = DefaultAlipayAppID
	}
	if o.TransactionID == "" {
		o.TransactionID = day + "22001" + randDigits(15)
	}
	if o.EventID == "" {
		o.EventID = day + "00222" + randDigits(21)
	}
	if o.Buyer == "" {
		o.Buyer = "2088" + randDigits(12)
	}
	return settleStatus(o, now, "TRADE_SUCCESS", alipayStatuses, alipayPaid)
}

func alipayPaid(status string) bool { return status == "TRADE_SUCCESS" || status == "TRADE_FINISHED" }

// beijing is Alipay's and WeChat's clock (UTC+8, written without a zone).
var beijing = time.FixedZone("CST", 8*3600)

const alipayTime = "2006-01-02 15:04:05"

// BuildNotify builds the async notification Alipay would POST for o.
func (a *Alipay) BuildNotify(o *Order, tamper string, now time.Time) (*Message, error) {
	if err := checkTamper(a, tamper); err != nil {
		return nil, err
	}
	params := a.notifyParams(o, now)
	body, err := a.signer.SignNotify(params)
	if err != nil {
		return nil, fmt.Errorf("alipay simulator: signing: %v", err)
	}
	if tamper != "" {
		if body, err = a.tamper(body, params, tamper); err != nil {
			return nil, err
		}
	}
	h := http.Header{}
	// What Alipay's notify client sends; the charset is also a signed
	// parameter, which is the one payguard trusts.
	h.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	h.Set("User-Agent", "Mozilla/4.0 (payguard sim)")
	return &Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// notifyParams is alipay.SampleNotifyParams with the order's own numbers,
// so the notification and the query API tell the same story.
func (a *Alipay) notifyParams(o *Order, now time.Time) map[string]string {
	p := alipay.SampleNotifyParams(o.AppID, o.OutTradeNo, o.Amount, now)
	p["notify_id"] = o.EventID
	p["trade_no"] = o.TransactionID
	p["trade_status"] = o.Status
	p["buyer_id"] = o.Buyer
	if alipayPaid(o.Status) {
		p["gmt_payment"] = o.PaidAt.In(beijing).Format(alipayTime)
	} else {
		// Nothing was paid: Alipay leaves out the payment fields.
		for _, k := range []string{"gmt_payment", "fund_bill_list", "buyer_pay_amount", "receipt_amount", "invoice_amount", "point_amount"} {
			delete(p, k)
		}
		if o.Status == "TRADE_CLOSED" {
			p["gmt_close"] = now.In(beijing).Format(alipayTime)
		}
	}
	return p
}

// tamper alters one field of a signed body. The form is re-encoded with
// url.Values, which is how SignNotify encoded it (sorted keys), so only the
// tampered field's bytes differ.
func (a *Alipay) tamper(body []byte, params map[string]string, field string) ([]byte, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("alipay simulator: re-reading the signed body: %v", err)
	}
	switch field {
	case "sign":
		// A signature by the right key over other bytes: flip one bit of
		// the signature itself, so it stays valid base64 and reaches the
		// RSA check.
		sig, err := base64.StdEncoding.DecodeString(vals.Get("sign"))
		if err != nil || len(sig) == 0 {
			return nil, errors.New("alipay simulator: signed body has no sign")
		}
		sig[len(sig)/2] ^= 0x01
		vals.Set("sign", base64.StdEncoding.EncodeToString(sig))
	case "sign_type":
		// The downgrade attack: a genuine SHA1withRSA signature by the same
		// key, labelled sign_type=RSA. Merely relabelling the RSA2
		// signature would fail even at a verifier that takes the algorithm
		// from the message (gopay's trap), so it would not catch that trap;
		// this one does.
		weak := &alipay.Signer{Key: a.signer.Key, SignType: alipay.SignTypeRSA}
		b, err := weak.SignNotify(params)
		if err != nil {
			return nil, fmt.Errorf("alipay simulator: signing: %v", err)
		}
		return b, nil
	default:
		v := vals.Get(field)
		vals.Set(field, tamperedValue(field, v))
	}
	return []byte(vals.Encode()), nil
}

// tamperedValue returns a plausible, different value for a field: what an
// attacker would write (a smaller amount, a success status, another app).
func tamperedValue(field, v string) string {
	switch field {
	case "total_amount", "total_fee", "amount":
		if v == "0.01" || v == "1" {
			return v + "0"
		}
		if strings.Contains(v, ".") {
			return "0.01"
		}
		return "1"
	case "trade_status":
		if v == "TRADE_SUCCESS" {
			return "TRADE_FINISHED"
		}
		return "TRADE_SUCCESS"
	case "result_code", "trade_state":
		if v == "SUCCESS" {
			return "FAIL"
		}
		return "SUCCESS"
	case "notify_time":
		t, err := time.ParseInLocation(alipayTime, v, beijing)
		if err != nil {
			return v + "1"
		}
		return t.Add(time.Second).Format(alipayTime)
	}
	// Identifiers: change the last character, keeping the shape.
	if v == "" {
		return "X"
	}
	last := v[len(v)-1]
	switch {
	case last >= '0' && last < '9':
		last++
	case last == '9':
		last = '0'
	case last == 'X':
		last = 'Y'
	default:
		last = 'X'
	}
	return v[:len(v)-1] + string(last)
}

// Mount registers alipay.trade.query at POST /alipay/gateway.do.
func (a *Alipay) Mount(mux *http.ServeMux, book *OrderBook) {
	mux.HandleFunc("POST /alipay/gateway.do", func(w http.ResponseWriter, r *http.Request) {
		a.serveGateway(w, r, book)
	})
}

// maxRequestBody bounds what the sandbox reads of a request; payguard's
// queries are well under 2 KiB.
const maxRequestBody = 64 << 10

// alipayError is a gateway refusal: code, msg, sub_code, sub_msg as Alipay
// writes them.
type alipayError struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code,omitempty"`
	SubMsg  string `json:"sub_msg,omitempty"`
}

func missingArg(sub, subMsg string) alipayError {
	return alipayError{"40001", "Missing Required Arguments", sub, subMsg}
}

func invalidArg(sub, subMsg string) alipayError {
	return alipayError{"40002", "Invalid Arguments", sub, subMsg}
}

// alipayQueryResponse is a successful alipay.trade.query answer, fields in
// the order Alipay writes them.
type alipayQueryResponse struct {
	Code           string          `json:"code"`
	Msg            string          `json:"msg"`
	BuyerLogonID   string          `json:"buyer_logon_id,omitempty"`
	BuyerPayAmount string          `json:"buyer_pay_amount"`
	BuyerUserID    string          `json:"buyer_user_id,omitempty"`
	BuyerUserType  string          `json:"buyer_user_type,omitempty"`
	FundBillList   json.RawMessage `json:"fund_bill_list,omitempty"`
	GmtPayment     string          `json:"gmt_payment,omitempty"`
	InvoiceAmount  string          `json:"invoice_amount"`
	OutTradeNo     string          `json:"out_trade_no"`
	PointAmount    string          `json:"point_amount"`
	ReceiptAmount  string          `json:"receipt_amount"`
	SendPayDate    string          `json:"send_pay_date,omitempty"`
	TotalAmount    string          `json:"total_amount"`
	TradeNo        string          `json:"trade_no"`
	TradeStatus    string          `json:"trade_status"`
}

// queryWindow is how far a request's timestamp may be from the sandbox's
// clock. Alipay publishes no figure; ten minutes catches a stuck clock
// without making tests flaky.
const queryWindow = 10 * time.Minute

// serveGateway answers the open-platform gateway as Alipay does: always
// HTTP 200 with a signed JSON answer, refusals included.
func (a *Alipay) serveGateway(w http.ResponseWriter, r *http.Request, book *OrderBook) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	form, err := alipay.ParseForm(body)
	if err != nil {
		a.answer(w, "", invalidArg("isv.invalid-parameter", "参数无效: the form does not parse"))
		return
	}
	method, _ := form.Get("method")
	switch {
	case len(method) == 0:
		a.answer(w, "", missingArg("isv.missing-method", "缺少方法名参数"))
		return
	case string(method) != alipay.QueryMethod:
		a.answer(w, "", invalidArg("isv.invalid-method", "不存在的方法名"))
		return
	}
	// From here the method is known, so refusals go under its response
	// key, as Alipay does.
	appID := form.Value("app_id")
	switch {
	case appID == "":
		a.answer(w, alipay.QueryMethod, missingArg("isv.missing-app-id", "缺少AppID参数"))
		return
	case !form.Has("sign"):
		a.answer(w, alipay.QueryMethod, missingArg("isv.missing-signature", "缺少签名参数"))
		return
	case form.Value("sign_type") != alipay.SignTypeRSA2:
		a.answer(w, alipay.QueryMethod, invalidArg("isv.invalid-signature-type", "无效的签名类型"))
		return
	}
	params, err := alipay.VerifyQueryRequest(body, a.appPub)
	if err != nil {
		a.logf("alipay query refused: request signature does not verify with the app public key")
		a.answer(w, alipay.QueryMethod, invalidArg("isv.invalid-signature", "验签出错"))
		return
	}
	ts, err := time.ParseInLocation(alipayTime, params["timestamp"], beijing)
	if d := a.now().Sub(ts); err != nil || d > queryWindow || d < -queryWindow {
		a.answer(w, alipay.QueryMethod, invalidArg("isv.invalid-timestamp", "非法的时间戳参数"))
		return
	}
	var biz struct {
		OutTradeNo string `json:"out_trade_no"`
		TradeNo    string `json:"trade_no"`
	}
	if err := json.Unmarshal([]byte(params["biz_content"]), &biz); err != nil || (biz.OutTradeNo == "" && biz.TradeNo == "") {
		a.answer(w, alipay.QueryMethod, alipayError{"40004", "Business Failed", "ACQ.INVALID_PARAMETER", "参数无效"})
		return
	}
	o, ok := book.Get(alipay.Name, biz.OutTradeNo)
	if biz.OutTradeNo == "" {
		o, ok = book.FindTransaction(alipay.Name, biz.TradeNo)
	}
	// An order of another app does not exist for this one, as at Alipay.
	if !ok || o.AppID != appID || (biz.TradeNo != "" && biz.TradeNo != o.TransactionID) {
		a.logf("alipay query out_trade_no=%s trade_no=%s: unknown order (ACQ.TRADE_NOT_EXIST)", clip(biz.OutTradeNo), clip(biz.TradeNo))
		a.answer(w, alipay.QueryMethod, alipayError{"40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在"})
		return
	}
	a.logf("alipay query out_trade_no=%s: %s %s", o.OutTradeNo, o.QueryStatus, o.QueryAmount)
	a.answer(w, alipay.QueryMethod, alipayQueryAnswer(&o))
}

// alipayQueryAnswer is the success answer for o, with the query's view of
// amount and status.
func alipayQueryAnswer(o *Order) alipayQueryResponse {
	r := alipayQueryResponse{
		Code:           "10000",
		Msg:            "Success",
		BuyerLogonID:   "buy***@example.com",
		BuyerPayAmount: "0.00",
		BuyerUserID:    o.Buyer,
		BuyerUserType:  "PRIVATE",
		InvoiceAmount:  "0.00",
		OutTradeNo:     o.OutTradeNo,
		PointAmount:    "0.00",
		ReceiptAmount:  "0.00",
		TotalAmount:    o.QueryAmount,
		TradeNo:        o.TransactionID,
		TradeStatus:    o.QueryStatus,
	}
	if alipayPaid(o.QueryStatus) {
		r.BuyerPayAmount, r.InvoiceAmount, r.ReceiptAmount = o.QueryAmount, o.QueryAmount, o.QueryAmount
		r.FundBillList = json.RawMessage(`[{"amount":"` + o.QueryAmount + `","fund_channel":"ALIPAYACCOUNT"}]`)
		paid := o.PaidAt
		if paid.IsZero() {
			paid = time.Now()
		}
		// Both: send_pay_date is the documented field; the real answer in
		// shared/vectors/alipay.json carries gmt_payment too.
		r.SendPayDate = paid.In(beijing).Format(alipayTime)
		r.GmtPayment = r.SendPayDate
	}
	return r
}

// answer signs resp as the value of method's response key (error_response
// when the method is unknown) and writes it with status 200.
func (a *Alipay) answer(w http.ResponseWriter, method string, resp any) {
	raw, err := json.Marshal(resp)
	var out []byte
	if err == nil {
		if method == "" {
			// SignResponse names the member after a method;
			// "error" gives "error_response".
			method = "error"
		}
		out, err = a.signer.SignResponse(method, raw)
	}
	if err != nil {
		http.Error(w, "sandbox: cannot sign the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write(out)
}
