package sim

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider/wechatpay"
)

// Defaults of simulated WeChat Pay orders: the merchant number and app id
// of WeChat's own documentation examples.
const (
	DefaultWeChatMchID = "1900000001"
	DefaultWeChatAppID = "wxd930ea5d5a258f4f"
)

// wechatStates are the trade_state words shared by v2 and v3
// (providers.md sections 2 and 3).
var wechatStates = []string{"SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR"}

var wechatStateDesc = map[string]string{
	"SUCCESS": "支付成功", "REFUND": "转入退款", "NOTPAY": "未支付", "CLOSED": "已关闭",
	"REVOKED": "已撤销", "USERPAYING": "用户支付中", "PAYERROR": "支付失败",
}

// WeChatConfig configures the simulated WeChat Pay, both API versions.
type WeChatConfig struct {
	// PlatformKey stands in for WeChat Pay's platform key: it signs v3
	// notifications and answers. PublicKeyID (PUB_KEY_ID_...) is sent as
	// Wechatpay-Serial (public-key mode).
	PlatformKey *rsa.PrivateKey
	PublicKeyID string
	// APIv3Key encrypts v3 notification resources (32 bytes).
	APIv3Key []byte
	// MerchantPublicKey checks the Authorization of v3 queries, and
	// MerchantSerial is the serial_no they must carry.
	MerchantPublicKey *rsa.PublicKey
	MerchantSerial    string
	// APIKey is the v2 API key (32 bytes); SignType (MD5, the default, or
	// HMAC-SHA256) is how v2 notifications are signed. v2 query answers
	// follow each request's own sign_type, as WeChat's do.
	APIKey   []byte
	SignType string
	// Now is the clock of the query APIs; time.Now when nil.
	Now func() time.Time
	// Logf, when set, is told about every query answered.
	Logf func(format string, args ...any)
}

func (c *WeChatConfig) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// prepareWeChat fills what both WeChat versions assign.
func prepareWeChat(o *Order, name string, now time.Time) error {
	if err := checkCommon(o, name); err != nil {
		return err
	}
	if len(o.OutTradeNo) > 32 {
		return errors.New("out_trade_no is longer than WeChat's 32 characters")
	}
	if o.MchID == "" {
		o.MchID = DefaultWeChatMchID
	}
	if o.AppID == "" {
		o.AppID = DefaultWeChatAppID
	}
	if o.TransactionID == "" {
		o.TransactionID = "4200" + randDigits(24)
	}
	if o.Buyer == "" {
		o.Buyer = "oSim" + randDigits(24)
	}
	return settleStatus(o, now, "SUCCESS", wechatStates, wechatPaid)
}

func wechatPaid(state string) bool { return state == "SUCCESS" || state == "REFUND" }

// ---- v3 ----

// WeChatV3 simulates WeChat Pay API v3: encrypted, RSA-signed JSON
// notifications and GET /v3/pay/transactions/out-trade-no/{no} under
// /wechatpay.
type WeChatV3 struct {
	signer *wechatpay.V3Signer
	cfg    WeChatConfig
}

// NewWeChatV3 returns the simulated WeChat Pay v3.
func NewWeChatV3(cfg WeChatConfig) (*WeChatV3, error) {
	if cfg.PlatformKey == nil || cfg.PublicKeyID == "" {
		return nil, errors.New("wechatpay_v3 simulator: platform key and public key id are required")
	}
	if n := len(cfg.APIv3Key); n != 32 {
		return nil, fmt.Errorf("wechatpay_v3 simulator: api v3 key must be 32 bytes, got %d", n)
	}
	cfg.defaults()
	return &WeChatV3{
		signer: &wechatpay.V3Signer{PlatformKey: cfg.PlatformKey, Serial: cfg.PublicKeyID, APIv3Key: cfg.APIv3Key},
		cfg:    cfg,
	}, nil
}

// Name is "wechatpay_v3".
func (p *WeChatV3) Name() string { return wechatpay.V3Name }

var v3Tamperable = []string{
	"amount", "out_trade_no", "trade_state", "mchid", "id", "event_type", "ciphertext",
	"wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial", "wechatpay-signature", "wechatpay-signature-type",
}

// Tamperable lists the fields BuildNotify can alter after signing: fields
// of the encrypted resource (re-encrypted, so only the signature can tell),
// of the envelope, and the signed headers.
func (p *WeChatV3) Tamperable() []string { return append([]string(nil), v3Tamperable...) }

// Endpoint is the API base URL under base (payguard appends /v3/...).
func (p *WeChatV3) Endpoint(base string) string { return strings.TrimRight(base, "/") + "/wechatpay" }

// Prepare fills WeChat's numbers: a 28-digit transaction id, an EV- event id.
func (p *WeChatV3) Prepare(o *Order, now time.Time) error {
	if err := prepareWeChat(o, wechatpay.V3Name, now); err != nil {
		return err
	}
	if o.EventID == "" {
		o.EventID = "EV-" + now.In(beijing).Format("20060102150405") + randDigits(7)
	}
	return nil
}

// v3Transaction is the Transaction object of v3 notifications and query
// answers, fields in WeChat's documented order.
type v3Transaction struct {
	AppID          string    `json:"appid"`
	MchID          string    `json:"mchid"`
	OutTradeNo     string    `json:"out_trade_no"`
	TransactionID  string    `json:"transaction_id,omitempty"`
	TradeType      string    `json:"trade_type,omitempty"`
	TradeState     string    `json:"trade_state"`
	TradeStateDesc string    `json:"trade_state_desc"`
	BankType       string    `json:"bank_type,omitempty"`
	Attach         string    `json:"attach"`
	SuccessTime    string    `json:"success_time,omitempty"`
	Payer          *v3Payer  `json:"payer,omitempty"`
	Amount         *v3Amount `json:"amount,omitempty"`
}

type v3Payer struct {
	OpenID string `json:"openid"`
}

type v3Amount struct {
	Total         int64  `json:"total"`
	PayerTotal    int64  `json:"payer_total"`
	Currency      string `json:"currency"`
	PayerCurrency string `json:"payer_currency"`
}

// v3Tx is o as a Transaction, with the notification's (query false) or
// the query API's (query true) amount and state.
func v3Tx(o *Order, query bool) v3Transaction {
	state, amount := o.Status, o.Amount
	if query {
		state, amount = o.QueryStatus, o.QueryAmount
	}
	t := v3Transaction{
		AppID: o.AppID, MchID: o.MchID, OutTradeNo: o.OutTradeNo,
		TradeType: "JSAPI", TradeState: state, TradeStateDesc: wechatStateDesc[state],
		Attach: "", Payer: &v3Payer{OpenID: o.Buyer},
		Amount: &v3Amount{Total: fen(amount), Currency: "CNY", PayerCurrency: "CNY"},
	}
	if wechatPaid(state) {
		t.TransactionID, t.BankType = o.TransactionID, "OTHERS"
		t.Amount.PayerTotal = t.Amount.Total
		paid := o.PaidAt
		if paid.IsZero() {
			paid = time.Now()
		}
		t.SuccessTime = paid.In(beijing).Format(time.RFC3339)
	} else if state != "NOTPAY" {
		t.TransactionID = o.TransactionID
	}
	return t
}

// BuildNotify builds the notification WeChat Pay v3 would POST for o.
func (p *WeChatV3) BuildNotify(o *Order, tamper string, now time.Time) (*Message, error) {
	if err := checkTamper(p, tamper); err != nil {
		return nil, err
	}
	tx := v3Tx(o, false)
	// The notification always carries the transaction id: payguard's event
	// handling (and WeChat) need it even for a non-SUCCESS state.
	tx.TransactionID = o.TransactionID
	pt, err := json.Marshal(tx)
	if err != nil {
		return nil, err
	}
	eventType := "TRANSACTION.SUCCESS"
	if o.Status != "SUCCESS" {
		// WeChat only notifies successful payments; other states are for
		// exercising payguard's status handling.
		eventType = "TRANSACTION." + o.Status
	}
	h, body, err := p.signer.SignNotify(eventType, pt, o.EventID, now)
	if err != nil {
		return nil, fmt.Errorf("wechatpay_v3 simulator: signing: %v", err)
	}
	if tamper != "" {
		if body, err = p.tamper(h, body, tx, tamper); err != nil {
			return nil, err
		}
	}
	h.Set("User-Agent", "Mozilla/4.0 (payguard sim)")
	return &Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// tamper alters one field after signing. Resource fields are changed in
// the plaintext and re-encrypted under the right key, so the decryption
// would succeed and only the signature over the body can catch it.
func (p *WeChatV3) tamper(h http.Header, body []byte, tx v3Transaction, field string) ([]byte, error) {
	switch field {
	case "amount", "out_trade_no", "trade_state", "mchid":
		switch field {
		case "amount":
			tx.Amount.Total++
			tx.Amount.PayerTotal = tx.Amount.Total
		case "out_trade_no":
			tx.OutTradeNo = tamperedValue(field, tx.OutTradeNo)
		case "trade_state":
			tx.TradeState = tamperedValue(field, tx.TradeState)
		case "mchid":
			tx.MchID = tamperedValue(field, tx.MchID)
		}
		pt, err := json.Marshal(tx)
		if err != nil {
			return nil, err
		}
		var env struct {
			Resource wechatpay.V3Resource `json:"resource"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("wechatpay_v3 simulator: re-reading the signed body: %v", err)
		}
		res, err := p.signer.EncryptResource(pt, env.Resource.OriginalType)
		if err != nil {
			return nil, err
		}
		body = replaceJSONString(body, "ciphertext", env.Resource.Ciphertext, res.Ciphertext)
		return replaceJSONString(body, "nonce", env.Resource.Nonce, res.Nonce), nil
	case "id", "event_type", "ciphertext":
		var env struct {
			ID        string               `json:"id"`
			EventType string               `json:"event_type"`
			Resource  wechatpay.V3Resource `json:"resource"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("wechatpay_v3 simulator: re-reading the signed body: %v", err)
		}
		switch field {
		case "id":
			return replaceJSONString(body, "id", env.ID, tamperedValue(field, env.ID)), nil
		case "event_type":
			other := "REFUND.SUCCESS"
			if env.EventType == other {
				other = "TRANSACTION.SUCCESS"
			}
			return replaceJSONString(body, "event_type", env.EventType, other), nil
		default:
			ct, err := base64.StdEncoding.DecodeString(env.Resource.Ciphertext)
			if err != nil || len(ct) == 0 {
				return nil, errors.New("wechatpay_v3 simulator: signed body has no ciphertext")
			}
			ct[0] ^= 0x01
			return replaceJSONString(body, "ciphertext", env.Resource.Ciphertext, base64.StdEncoding.EncodeToString(ct)), nil
		}
	case "wechatpay-timestamp":
		ts, _ := strconv.ParseInt(h.Get(wechatpay.HeaderTimestamp), 10, 64)
		h.Set(wechatpay.HeaderTimestamp, strconv.FormatInt(ts-1, 10))
	case "wechatpay-nonce":
		h.Set(wechatpay.HeaderNonce, tamperedValue(field, h.Get(wechatpay.HeaderNonce)))
	case "wechatpay-serial":
		h.Set(wechatpay.HeaderSerial, tamperedValue(field, h.Get(wechatpay.HeaderSerial)))
	case "wechatpay-signature":
		sig, err := base64.StdEncoding.DecodeString(h.Get(wechatpay.HeaderSignature))
		if err != nil || len(sig) == 0 {
			return nil, errors.New("wechatpay_v3 simulator: signed headers have no signature")
		}
		sig[len(sig)/2] ^= 0x01
		h.Set(wechatpay.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	case "wechatpay-signature-type":
		// A weaker-sounding type that a verifier must not honour.
		h.Set(wechatpay.HeaderSignatureType, "WECHATPAY2-SHA1-RSA1024")
	}
	return body, nil
}

// replaceJSONString replaces the value of the member "key":"old" (as
// encoding/json wrote it, no spaces) by new. Both values are ASCII tokens
// or base64, which encoding/json writes unescaped.
func replaceJSONString(body []byte, key, old, new string) []byte {
	return bytes.Replace(body, []byte(`"`+key+`":"`+old+`"`), []byte(`"`+key+`":"`+new+`"`), 1)
}

// Mount registers the order queries under /wechatpay/v3.
func (p *WeChatV3) Mount(mux *http.ServeMux, book *OrderBook) {
	mux.HandleFunc("GET /wechatpay/v3/pay/transactions/out-trade-no/{no}", func(w http.ResponseWriter, r *http.Request) {
		p.serveQuery(w, r, book, r.PathValue("no"), "")
	})
	mux.HandleFunc("GET /wechatpay/v3/pay/transactions/id/{id}", func(w http.ResponseWriter, r *http.Request) {
		p.serveQuery(w, r, book, "", r.PathValue("id"))
	})
}

// serveQuery answers a v3 order query: the merchant's Authorization must
// verify, be fresh and name the configured merchant serial; every answer,
// refusals included, is signed like WeChat's.
func (p *WeChatV3) serveQuery(w http.ResponseWriter, r *http.Request, book *OrderBook, outTradeNo, txID string) {
	now := p.cfg.Now()
	if p.cfg.MerchantPublicKey == nil || wechatpay.VerifyQueryAuthorization(r, p.cfg.MerchantPublicKey) != nil {
		p.cfg.Logf("wechatpay_v3 query refused: Authorization does not verify with the merchant public key")
		p.answerError(w, now, http.StatusUnauthorized, "SIGN_ERROR", "签名错误")
		return
	}
	auth, _ := wechatpay.ParseV3Authorization(r.Header.Get("Authorization")) // verified above
	if auth.SerialNo != p.cfg.MerchantSerial {
		p.answerError(w, now, http.StatusUnauthorized, "SIGN_ERROR", "商户证书序列号有误")
		return
	}
	ts, err := strconv.ParseInt(auth.Timestamp, 10, 64)
	if d := now.Sub(time.Unix(ts, 0)); err != nil || d > 5*time.Minute || d < -5*time.Minute {
		p.answerError(w, now, http.StatusUnauthorized, "SIGN_ERROR", "请求时间戳已过期")
		return
	}
	mchid := r.URL.Query().Get("mchid")
	if mchid == "" || mchid != auth.MchID {
		p.answerError(w, now, http.StatusBadRequest, "PARAM_ERROR", "mchid与请求签名不一致")
		return
	}
	var o Order
	var ok bool
	if txID != "" {
		o, ok = book.FindTransaction(wechatpay.V3Name, txID)
	} else {
		o, ok = book.Get(wechatpay.V3Name, outTradeNo)
	}
	if !ok || o.MchID != mchid {
		p.cfg.Logf("wechatpay_v3 query out_trade_no=%s: unknown order (ORDER_NOT_EXIST)", clip(outTradeNo+txID))
		p.answerError(w, now, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		return
	}
	p.cfg.Logf("wechatpay_v3 query out_trade_no=%s: %s %s", o.OutTradeNo, o.QueryStatus, o.QueryAmount)
	body, err := json.Marshal(v3Tx(&o, true))
	if err != nil {
		http.Error(w, "sandbox: cannot encode the answer", http.StatusInternalServerError)
		return
	}
	p.answer(w, now, http.StatusOK, body)
}

func (p *WeChatV3) answerError(w http.ResponseWriter, now time.Time, status int, code, msg string) {
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	p.answer(w, now, status, body)
}

func (p *WeChatV3) answer(w http.ResponseWriter, now time.Time, status int, body []byte) {
	h, err := p.signer.SignResponse(body, now)
	if err != nil {
		http.Error(w, "sandbox: cannot sign the answer", http.StatusInternalServerError)
		return
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ---- v2 ----

// WeChatV2 simulates WeChat Pay API v2: XML notifications signed with MD5
// or HMAC-SHA256 and POST /pay/orderquery under /wechatpay/v2.
type WeChatV2 struct {
	cfg      WeChatConfig
	signType string
}

// NewWeChatV2 returns the simulated WeChat Pay v2.
func NewWeChatV2(cfg WeChatConfig) (*WeChatV2, error) {
	if n := len(cfg.APIKey); n != 32 {
		return nil, fmt.Errorf("wechatpay_v2 simulator: api key must be 32 bytes, got %d", n)
	}
	st := strings.ToUpper(cfg.SignType)
	switch st {
	case "":
		st = wechatpay.SignTypeMD5
	case wechatpay.SignTypeMD5, wechatpay.SignTypeHMACSHA256:
	default:
		return nil, fmt.Errorf("wechatpay_v2 simulator: sign type must be MD5 or HMAC-SHA256, not %q", clip(cfg.SignType))
	}
	cfg.defaults()
	return &WeChatV2{cfg: cfg, signType: st}, nil
}

// Name is "wechatpay_v2".
func (p *WeChatV2) Name() string { return wechatpay.V2Name }

var v2Tamperable = []string{"total_fee", "out_trade_no", "transaction_id", "result_code", "appid", "mch_id", "sign", "sign_type"}

// Tamperable lists the fields BuildNotify can alter after signing.
func (p *WeChatV2) Tamperable() []string { return append([]string(nil), v2Tamperable...) }

// Endpoint is the orderquery URL under base.
func (p *WeChatV2) Endpoint(base string) string {
	return strings.TrimRight(base, "/") + "/wechatpay/v2/pay/orderquery"
}

// Prepare fills WeChat's numbers. v2 has no event id of its own: payguard
// deduplicates on transaction_id, so that is the event id.
func (p *WeChatV2) Prepare(o *Order, now time.Time) error {
	if err := prepareWeChat(o, wechatpay.V2Name, now); err != nil {
		return err
	}
	if o.EventID == "" {
		o.EventID = o.TransactionID
	} else if o.EventID != o.TransactionID {
		return errors.New("wechatpay_v2 has no event id of its own: event_id must be empty or the transaction_id")
	}
	return nil
}

// v2Fields is o as v2 fields, with the notification's or the query's view.
func v2Fields(o *Order, query bool) map[string]string {
	state, amount := o.Status, o.Amount
	if query {
		state, amount = o.QueryStatus, o.QueryAmount
	}
	f := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK",
		"appid": o.AppID, "mch_id": o.MchID, "nonce_str": nonceStr(),
		"openid": o.Buyer, "is_subscribe": "N", "trade_type": "JSAPI", "bank_type": "OTHERS",
		"out_trade_no": o.OutTradeNo, "transaction_id": o.TransactionID,
		"total_fee": strconv.FormatInt(fen(amount), 10), "fee_type": "CNY",
	}
	if wechatPaid(state) {
		f["cash_fee"] = f["total_fee"]
		paid := o.PaidAt
		if paid.IsZero() {
			paid = time.Now()
		}
		f["time_end"] = paid.In(beijing).Format("20060102150405")
	}
	return f
}

// nonceStr is a 32-character nonce_str as WeChat writes them.
func nonceStr() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 32)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// BuildNotify builds the payment notice WeChat Pay v2 would POST for o.
func (p *WeChatV2) BuildNotify(o *Order, tamper string, _ time.Time) (*Message, error) {
	if err := checkTamper(p, tamper); err != nil {
		return nil, err
	}
	f := v2Fields(o, false)
	if o.Status == "SUCCESS" {
		f["result_code"] = "SUCCESS"
	} else {
		f["result_code"], f["err_code"], f["err_code_des"] = "FAIL", o.Status, wechatStateDesc[o.Status]
	}
	if p.signType != wechatpay.SignTypeMD5 {
		// Merchants on HMAC-SHA256 get sign_type in their notices; MD5
		// notices leave it out (it is the default).
		f["sign_type"] = p.signType
	}
	signer := &wechatpay.V2Signer{APIKey: p.cfg.APIKey, SignType: p.signType}
	body := signer.SignNotify(f)
	var err error
	switch tamper {
	case "":
	case "sign":
		// Keep it upper-case hex, so it reaches the comparison.
		flipped := []byte(signer.Sign(f))
		if flipped[0] == 'A' {
			flipped[0] = 'B'
		} else {
			flipped[0] = 'A'
		}
		body, err = replaceXMLElement(body, "sign", string(flipped))
	case "sign_type":
		// The other algorithm, genuinely signed with the right key and
		// labelled as such: a verifier must hold the message to its
		// configured sign_type rather than follow the message's.
		other := wechatpay.SignTypeMD5
		if p.signType == wechatpay.SignTypeMD5 {
			other = wechatpay.SignTypeHMACSHA256
		}
		f["sign_type"] = other
		body = (&wechatpay.V2Signer{APIKey: p.cfg.APIKey, SignType: other}).SignNotify(f)
	default:
		body, err = replaceXMLElement(body, tamper, tamperedValue(tamper, f[tamper]))
	}
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "text/xml")
	h.Set("User-Agent", "Mozilla/4.0 (payguard sim)")
	return &Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// replaceXMLElement replaces the text of the flat element <key> in a
// signed v2 document with value (as CDATA, the way the signer wrote it).
// Values the simulator writes are tokens, so CDATA carries them exactly.
func replaceXMLElement(doc []byte, key, value string) ([]byte, error) {
	open, close := []byte("<"+key+">"), []byte("</"+key+">")
	i := bytes.Index(doc, open)
	if i < 0 {
		return nil, fmt.Errorf("no element %q to tamper with", clip(key))
	}
	start := i + len(open)
	j := bytes.Index(doc[start:], close)
	if j < 0 {
		return nil, fmt.Errorf("element %q is not closed", clip(key))
	}
	if strings.Contains(value, "]]>") {
		return nil, errors.New("value cannot be carried in CDATA")
	}
	out := make([]byte, 0, len(doc)+len(value))
	out = append(out, doc[:start]...)
	out = append(out, "<![CDATA["+value+"]]>"...)
	out = append(out, doc[start+j:]...)
	return out, nil
}

// v2Fail is the unsigned FAIL answer WeChat gives when it cannot process a
// request at all (bad signature, bad XML): return_code FAIL.
func v2Fail(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA["+msg+"]]></return_msg></xml>")
}

// Mount registers orderquery at POST /wechatpay/v2/pay/orderquery.
func (p *WeChatV2) Mount(mux *http.ServeMux, book *OrderBook) {
	mux.HandleFunc("POST /wechatpay/v2/pay/orderquery", func(w http.ResponseWriter, r *http.Request) {
		p.serveQuery(w, r, book)
	})
}

// serveQuery answers orderquery: the request must be signed with the API
// key under its own sign_type; the answer is signed the same way.
func (p *WeChatV2) serveQuery(w http.ResponseWriter, r *http.Request, book *OrderBook) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	req, err := wechatpay.ParseXML(body)
	if err != nil {
		v2Fail(w, "XML格式错误")
		return
	}
	st := req["sign_type"]
	if st == "" {
		st = wechatpay.SignTypeMD5
	}
	if st != wechatpay.SignTypeMD5 && st != wechatpay.SignTypeHMACSHA256 {
		v2Fail(w, "sign_type参数错误")
		return
	}
	signer := &wechatpay.V2Signer{APIKey: p.cfg.APIKey, SignType: st}
	if _, err := signer.VerifyRequest(body); err != nil {
		p.cfg.Logf("wechatpay_v2 query refused: sign does not verify with the API key")
		v2Fail(w, "签名错误")
		return
	}
	if req["appid"] == "" || req["mch_id"] == "" || req["nonce_str"] == "" {
		v2Fail(w, "缺少参数")
		return
	}
	var o Order
	var ok bool
	if req["transaction_id"] != "" {
		o, ok = book.FindTransaction(wechatpay.V2Name, req["transaction_id"])
	} else {
		o, ok = book.Get(wechatpay.V2Name, req["out_trade_no"])
	}
	var f map[string]string
	if !ok || o.MchID != req["mch_id"] || o.AppID != req["appid"] {
		p.cfg.Logf("wechatpay_v2 query out_trade_no=%s: unknown order (ORDERNOTEXIST)", clip(req["out_trade_no"]))
		f = map[string]string{
			"return_code": "SUCCESS", "return_msg": "OK", "appid": req["appid"], "mch_id": req["mch_id"],
			"nonce_str": nonceStr(), "result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "此交易订单号不存在",
		}
	} else {
		p.cfg.Logf("wechatpay_v2 query out_trade_no=%s: %s %s", o.OutTradeNo, o.QueryStatus, o.QueryAmount)
		f = v2Fields(&o, true)
		f["result_code"] = "SUCCESS"
		f["trade_state"] = o.QueryStatus
		f["trade_state_desc"] = wechatStateDesc[o.QueryStatus]
		f["attach"] = ""
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(signer.SignResponse(f))
}
