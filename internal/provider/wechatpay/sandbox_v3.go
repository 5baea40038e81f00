package wechatpay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/sandbox"
)

// ---- v3 ----

// SandboxV3 simulates WeChat Pay API v3: encrypted, RSA-signed JSON
// notifications and GET /v3/pay/transactions/out-trade-no/{no} under
// /
type SandboxV3 struct {
	signer *V3Signer
	cfg    SandboxConfig
}

// NewSandboxV3 returns the simulated WeChat Pay v3.
func NewSandboxV3(cfg SandboxConfig) (*SandboxV3, error) {
	if cfg.PlatformKey == nil || cfg.PublicKeyID == "" {
		return nil, errors.New("wechatpay_v3 simulator: platform key and public key id are required")
	}
	if n := len(cfg.APIv3Key); n != 32 {
		return nil, fmt.Errorf("wechatpay_v3 simulator: api v3 key must be 32 bytes, got %d", n)
	}
	cfg.defaults()
	return &SandboxV3{
		signer: &V3Signer{PlatformKey: cfg.PlatformKey, Serial: cfg.PublicKeyID, APIv3Key: cfg.APIv3Key},
		cfg:    cfg,
	}, nil
}

// Name is "wechatpay_v3".
func (p *SandboxV3) Name() string { return V3Name }

var v3Tamperable = []string{
	"amount", "out_trade_no", "trade_state", "mchid", "id", "event_type", "ciphertext",
	"wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial", "wechatpay-signature", "wechatpay-signature-type",
}

// Tamperable lists the fields BuildNotify can alter after signing: fields
// of the encrypted resource (re-encrypted, so only the signature can tell),
// of the envelope, and the signed headers.
func (p *SandboxV3) Tamperable() []string { return append([]string(nil), v3Tamperable...) }

// Endpoint is the API base URL under base (payguard appends /v3/...).
func (p *SandboxV3) Endpoint(base string) string { return strings.TrimRight(base, "/") + "/wechatpay" }

// Prepare fills WeChat's numbers: a 28-digit transaction id, an EV- event id.
func (p *SandboxV3) Prepare(o *sandbox.Order, now time.Time) error {
	if err := prepareWeChat(o, V3Name, now); err != nil {
		return err
	}
	if o.EventID == "" {
		o.EventID = "EV-" + now.In(beijing).Format("20060102150405") + sandbox.UniqueDigits(7)
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
func v3Tx(o *sandbox.Order, query bool) v3Transaction {
	state, amount := o.Status, o.Amount
	if query {
		state, amount = o.QueryStatus, o.QueryAmount
	}
	t := v3Transaction{
		AppID: o.AppID, MchID: o.MchID, OutTradeNo: o.OutTradeNo,
		TradeType: "JSAPI", TradeState: state, TradeStateDesc: wechatStateDesc[state],
		Attach: "", Payer: &v3Payer{OpenID: o.Buyer},
		Amount: &v3Amount{Total: amount, Currency: "CNY", PayerCurrency: "CNY"},
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
func (p *SandboxV3) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(p.Name(), p.Tamperable(), tamper); err != nil {
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
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// tamper alters one field after signing. Resource fields are changed in
// the plaintext and re-encrypted under the right key, so the decryption
// would succeed and only the signature over the body can catch it.
func (p *SandboxV3) tamper(h http.Header, body []byte, tx v3Transaction, field string) ([]byte, error) {
	switch field {
	case "amount", "out_trade_no", "trade_state", "mchid":
		switch field {
		case "amount":
			tx.Amount.Total++
			tx.Amount.PayerTotal = tx.Amount.Total
		case "out_trade_no":
			tx.OutTradeNo = sandbox.TamperedValue(field, tx.OutTradeNo)
		case "trade_state":
			tx.TradeState = sandbox.TamperedValue(field, tx.TradeState)
		case "mchid":
			tx.MchID = sandbox.TamperedValue(field, tx.MchID)
		}
		pt, err := json.Marshal(tx)
		if err != nil {
			return nil, err
		}
		var env struct {
			Resource V3Resource `json:"resource"`
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
			ID        string     `json:"id"`
			EventType string     `json:"event_type"`
			Resource  V3Resource `json:"resource"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("wechatpay_v3 simulator: re-reading the signed body: %v", err)
		}
		switch field {
		case "id":
			return replaceJSONString(body, "id", env.ID, sandbox.TamperedValue(field, env.ID)), nil
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
		ts, _ := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts-1, 10))
	case "wechatpay-nonce":
		h.Set(HeaderNonce, sandbox.TamperedValue(field, h.Get(HeaderNonce)))
	case "wechatpay-serial":
		h.Set(HeaderSerial, sandbox.TamperedValue(field, h.Get(HeaderSerial)))
	case "wechatpay-signature":
		sig, err := base64.StdEncoding.DecodeString(h.Get(HeaderSignature))
		if err != nil || len(sig) == 0 {
			return nil, errors.New("wechatpay_v3 simulator: signed headers have no signature")
		}
		sig[len(sig)/2] ^= 0x01
		h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	case "wechatpay-signature-type":
		// A weaker-sounding type that a verifier must not honour.
		h.Set(HeaderSignatureType, "WECHATPAY2-SHA1-RSA1024")
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
func (p *SandboxV3) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
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
func (p *SandboxV3) serveQuery(w http.ResponseWriter, r *http.Request, book *sandbox.OrderBook, outTradeNo, txID string) {
	now := p.cfg.Now()
	if p.cfg.MerchantPublicKey == nil || VerifyQueryAuthorization(r, p.cfg.MerchantPublicKey) != nil {
		p.cfg.Logf("wechatpay_v3 query refused: Authorization does not verify with the merchant public key")
		p.answerError(w, now, http.StatusUnauthorized, "SIGN_ERROR", "签名错误")
		return
	}
	auth, _ := ParseV3Authorization(r.Header.Get("Authorization")) // verified above
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
	var o sandbox.Order
	var ok bool
	if txID != "" {
		o, ok = book.FindTransaction(V3Name, txID)
	} else {
		o, ok = book.Get(V3Name, outTradeNo)
	}
	if !ok || o.MchID != mchid {
		p.cfg.Logf("wechatpay_v3 query out_trade_no=%s: unknown order (ORDER_NOT_EXIST)", sandbox.Clip(outTradeNo+txID))
		p.answerError(w, now, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		return
	}
	p.cfg.Logf("wechatpay_v3 query out_trade_no=%s: %s %d", o.OutTradeNo, o.QueryStatus, o.QueryAmount)
	body, err := json.Marshal(v3Tx(&o, true))
	if err != nil {
		http.Error(w, "sandbox: cannot encode the answer", http.StatusInternalServerError)
		return
	}
	p.answer(w, now, http.StatusOK, body)
}

func (p *SandboxV3) answerError(w http.ResponseWriter, now time.Time, status int, code, msg string) {
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	p.answer(w, now, status, body)
}

func (p *SandboxV3) answer(w http.ResponseWriter, now time.Time, status int, body []byte) {
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
