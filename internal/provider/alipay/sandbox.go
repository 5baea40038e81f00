package alipay

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

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// DefaultSandboxAppID is the app_id of simulated Alipay orders when none
// is given; the sandbox's Caddyfile lines configure it.
const DefaultSandboxAppID = "2021000000000001"

// The sandbox's key files.
const (
	FileSandboxKey       = "alipay_private.pem"     // stands in for Alipay's key: signs notifications and answers
	FileSandboxPublic    = "alipay_public.pem"      // payguard verifies with it (public_key_file)
	FileSandboxAppKey    = "alipay_app_private.pem" // the merchant app's key: payguard signs queries (query private_key_file)
	FileSandboxAppPublic = "alipay_app_public.pem"  // the sandbox checks payguard's queries with it
)

// alipayStatuses are the trade_status words (providers.md section 1).
var alipayStatuses = []string{"WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"}

// alipayTamperable: the money and identity fields, the signature and its
// type, and the event id.
var alipayTamperable = []string{
	"total_amount", "out_trade_no", "trade_no", "trade_status", "app_id",
	"seller_id", "notify_id", "notify_time", "sign", "sign_type",
}

var sandboxSpec = &provider.SandboxSpec{
	Tamperable:   alipayTamperable,
	Currency:     "CNY",
	GenerateKeys: generateSandboxKeys,
	Load:         loadSandbox,
}

func generateSandboxKeys() ([]sandbox.KeyFile, error) {
	_, files, err := sandbox.NewRSAPair(FileSandboxKey, FileSandboxPublic)
	if err != nil {
		return nil, err
	}
	_, app, err := sandbox.NewRSAPair(FileSandboxAppKey, FileSandboxAppPublic)
	return append(files, app...), err
}

func loadSandbox(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
	if err := dir.Present(FileSandboxKey, FileSandboxPublic, FileSandboxAppKey, FileSandboxAppPublic); err != nil {
		return nil, err
	}
	key, err := dir.RSAPair(FileSandboxKey, FileSandboxPublic)
	if err != nil {
		return nil, err
	}
	app, err := dir.RSAPair(FileSandboxAppKey, FileSandboxAppPublic)
	if err != nil {
		return nil, err
	}
	return NewSandbox(SandboxConfig{Key: key, AppPublicKey: &app.PublicKey, Dir: dir, Logf: opts.Logf})
}

// SandboxConfig configures the simulated Alipay.
type SandboxConfig struct {
	// Key is the sandbox's stand-in for Alipay's private key: it signs
	// notifications and query answers.
	Key *rsa.PrivateKey
	// AppPublicKey is the merchant app's public key: the query API checks
	// payguard's signed requests with it. Without it the query API refuses
	// every request (isv.invalid-signature).
	AppPublicKey *rsa.PublicKey
	// Dir is where the key files are, for Settings.
	Dir sandbox.Dir
	// Now is the clock of the query API; time.Now when nil.
	Now func() time.Time
	// Logf, when set, is told about every query answered.
	Logf func(format string, args ...any)
}

// Sandbox simulates Alipay: trade_status_sync notifications (RSA2, rule
// V1) and alipay.trade.query at /alipay/gateway.do.
type Sandbox struct {
	signer *Signer
	appPub *rsa.PublicKey
	dir    sandbox.Dir
	now    func() time.Time
	logf   func(string, ...any)
}

// NewSandbox returns the simulated Alipay.
func NewSandbox(cfg SandboxConfig) (*Sandbox, error) {
	if cfg.Key == nil {
		return nil, errors.New("alipay sandbox: no Alipay private key")
	}
	a := &Sandbox{
		signer: &Signer{Key: cfg.Key, SignType: SignTypeRSA2},
		appPub: cfg.AppPublicKey,
		dir:    cfg.Dir,
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

// Settings are the sidecar's options for this sandbox.
func (a *Sandbox) Settings(base string) []provider.Setting {
	return []provider.Setting{
		{Name: "app_id", Args: []string{DefaultSandboxAppID}},
		{Name: "public_key_file", Args: []string{a.dir.Path(FileSandboxPublic)}},
		{Name: "endpoint", Args: []string{strings.TrimRight(base, "/") + "/alipay/gateway.do"}, Query: true},
		{Name: "private_key_file", Args: []string{a.dir.Path(FileSandboxAppKey)}, Query: true},
	}
}

// Prepare fills Alipay's numbers in Alipay's shapes: trade_no
// yyyyMMdd22001 + 15 digits, notify_id yyyyMMdd00222 + 21 digits, a 2088
// buyer id.
func (a *Sandbox) Prepare(o *sandbox.Order, now time.Time) error {
	if err := sandbox.CheckCommon(o, Name, "CNY"); err != nil {
		return err
	}
	if o.MchID != "" {
		return errors.New("alipay orders have no mch_id")
	}
	day := now.In(beijing).Format("20060102")
	if o.AppID == "" {
		o.AppID = DefaultSandboxAppID
	}
	if o.TransactionID == "" {
		o.TransactionID = day + "22001" + sandbox.RandDigits(15)
	}
	if o.EventID == "" {
		o.EventID = day + "00222" + sandbox.RandDigits(21)
	}
	if o.Buyer == "" {
		o.Buyer = "2088" + sandbox.RandDigits(12)
	}
	return sandbox.SettleStatus(o, now, "TRADE_SUCCESS", alipayStatuses, alipayPaid)
}

func alipayPaid(status string) bool { return status == "TRADE_SUCCESS" || status == "TRADE_FINISHED" }

// BuildNotify builds the async notification Alipay would POST for o.
func (a *Sandbox) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(Name, alipayTamperable, tamper); err != nil {
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
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// notifyParams is SampleNotifyParams with the order's own numbers,
// so the notification and the query API tell the same story.
func (a *Sandbox) notifyParams(o *sandbox.Order, now time.Time) map[string]string {
	p := SampleNotifyParams(o.AppID, o.OutTradeNo, sandbox.Decimal(o.Amount, o.Currency), now)
	p["notify_id"] = o.EventID
	p["trade_no"] = o.TransactionID
	p["trade_status"] = o.Status
	p["buyer_id"] = o.Buyer
	if alipayPaid(o.Status) {
		p["gmt_payment"] = o.PaidAt.In(beijing).Format(timeLayout)
	} else {
		// Nothing was paid: Alipay leaves out the payment fields.
		for _, k := range []string{"gmt_payment", "fund_bill_list", "buyer_pay_amount", "receipt_amount", "invoice_amount", "point_amount"} {
			delete(p, k)
		}
		if o.Status == "TRADE_CLOSED" {
			p["gmt_close"] = now.In(beijing).Format(timeLayout)
		}
	}
	return p
}

// tamper alters one field of a signed body. The form is re-encoded with
// url.Values, which is how SignNotify encoded it (sorted keys), so only the
// tampered field's bytes differ.
func (a *Sandbox) tamper(body []byte, params map[string]string, field string) ([]byte, error) {
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
		weak := &Signer{Key: a.signer.Key, SignType: SignTypeRSA}
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

// tamperedValue is sandbox.TamperedValue with Alipay's clock for
// notify_time.
func tamperedValue(field, v string) string {
	if field == "notify_time" {
		t, err := time.ParseInLocation(timeLayout, v, beijing)
		if err != nil {
			return v + "1"
		}
		return t.Add(time.Second).Format(timeLayout)
	}
	return sandbox.TamperedValue(field, v)
}

// Mount registers alipay.trade.query at POST /alipay/gateway.do.
func (a *Sandbox) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
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
func (a *Sandbox) serveGateway(w http.ResponseWriter, r *http.Request, book *sandbox.OrderBook) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	form, err := ParseForm(body)
	if err != nil {
		a.answer(w, "", invalidArg("isv.invalid-parameter", "参数无效: the form does not parse"))
		return
	}
	method := form.Value("method")
	switch {
	case method == "":
		a.answer(w, "", missingArg("isv.missing-method", "缺少方法名参数"))
		return
	case method != QueryMethod:
		a.answer(w, "", invalidArg("isv.invalid-method", "不存在的方法名"))
		return
	}
	// From here the method is known, so refusals go under its response
	// key, as Alipay does.
	appID := form.Value("app_id")
	switch {
	case appID == "":
		a.answer(w, QueryMethod, missingArg("isv.missing-app-id", "缺少AppID参数"))
		return
	case !form.Has("sign"):
		a.answer(w, QueryMethod, missingArg("isv.missing-signature", "缺少签名参数"))
		return
	case form.Value("sign_type") != SignTypeRSA2:
		a.answer(w, QueryMethod, invalidArg("isv.invalid-signature-type", "无效的签名类型"))
		return
	}
	params, err := VerifyQueryRequest(body, a.appPub)
	if err != nil {
		a.logf("alipay query refused: request signature does not verify with the app public key")
		a.answer(w, QueryMethod, invalidArg("isv.invalid-signature", "验签出错"))
		return
	}
	ts, err := time.ParseInLocation(timeLayout, params["timestamp"], beijing)
	if d := a.now().Sub(ts); err != nil || d > queryWindow || d < -queryWindow {
		a.answer(w, QueryMethod, invalidArg("isv.invalid-timestamp", "非法的时间戳参数"))
		return
	}
	var biz struct {
		OutTradeNo string `json:"out_trade_no"`
		TradeNo    string `json:"trade_no"`
	}
	if err := json.Unmarshal([]byte(params["biz_content"]), &biz); err != nil || (biz.OutTradeNo == "" && biz.TradeNo == "") {
		a.answer(w, QueryMethod, alipayError{"40004", "Business Failed", "ACQ.INVALID_PARAMETER", "参数无效"})
		return
	}
	o, ok := book.Get(Name, biz.OutTradeNo)
	if biz.OutTradeNo == "" {
		o, ok = book.FindTransaction(Name, biz.TradeNo)
	}
	// An order of another app does not exist for this one, as at Alipay.
	if !ok || o.AppID != appID || (biz.TradeNo != "" && biz.TradeNo != o.TransactionID) {
		a.logf("alipay query out_trade_no=%s trade_no=%s: unknown order (ACQ.TRADE_NOT_EXIST)", sandbox.Clip(biz.OutTradeNo), sandbox.Clip(biz.TradeNo))
		a.answer(w, QueryMethod, alipayError{"40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在"})
		return
	}
	a.logf("alipay query out_trade_no=%s: %s %s", o.OutTradeNo, o.QueryStatus, sandbox.Decimal(o.QueryAmount, o.Currency))
	a.answer(w, QueryMethod, alipayQueryAnswer(&o))
}

// alipayQueryAnswer is the success answer for o, with the query's view of
// amount and status.
func alipayQueryAnswer(o *sandbox.Order) alipayQueryResponse {
	queryAmount := sandbox.Decimal(o.QueryAmount, o.Currency)
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
		TotalAmount:    queryAmount,
		TradeNo:        o.TransactionID,
		TradeStatus:    o.QueryStatus,
	}
	if alipayPaid(o.QueryStatus) {
		r.BuyerPayAmount, r.InvoiceAmount, r.ReceiptAmount = queryAmount, queryAmount, queryAmount
		r.FundBillList = json.RawMessage(`[{"amount":"` + queryAmount + `","fund_channel":"ALIPAYACCOUNT"}]`)
		paid := o.PaidAt
		if paid.IsZero() {
			paid = time.Now()
		}
		// Both: send_pay_date is the documented field; the real answer in
		// shared/vectors/alipay.json carries gmt_payment too.
		r.SendPayDate = paid.In(beijing).Format(timeLayout)
		r.GmtPayment = r.SendPayDate
	}
	return r
}

// answer signs resp as the value of method's response key (error_response
// when the method is unknown) and writes it with status 200.
func (a *Sandbox) answer(w http.ResponseWriter, method string, resp any) {
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
