package wechatpay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/sandbox"
)

// SandboxV2 simulates WeChat Pay API v2: XML notifications signed with MD5
// or HMAC-SHA256 and POST /pay/orderquery under /wechatpay/v2.
type SandboxV2 struct {
	cfg      SandboxConfig
	signType string
}

// NewSandboxV2 returns the simulated WeChat Pay v2.
func NewSandboxV2(cfg SandboxConfig) (*SandboxV2, error) {
	if n := len(cfg.APIKey); n != 32 {
		return nil, fmt.Errorf("wechatpay_v2 simulator: api key must be 32 bytes, got %d", n)
	}
	st := strings.ToUpper(cfg.SignType)
	switch st {
	case "":
		st = SignTypeMD5
	case SignTypeMD5, SignTypeHMACSHA256:
	default:
		return nil, fmt.Errorf("wechatpay_v2 simulator: sign type must be MD5 or HMAC-SHA256, not %q", sandbox.Clip(cfg.SignType))
	}
	cfg.defaults()
	return &SandboxV2{cfg: cfg, signType: st}, nil
}

// Name is "wechatpay_v2".
func (p *SandboxV2) Name() string { return V2Name }

var v2Tamperable = []string{"total_fee", "out_trade_no", "transaction_id", "result_code", "appid", "mch_id", "sign", "sign_type"}

// Tamperable lists the fields BuildNotify can alter after signing.
func (p *SandboxV2) Tamperable() []string { return append([]string(nil), v2Tamperable...) }

// Endpoint is the orderquery URL under base.
func (p *SandboxV2) Endpoint(base string) string {
	return strings.TrimRight(base, "/") + "/wechatpay/v2/pay/orderquery"
}

// Prepare fills WeChat's numbers. v2 has no event id of its own: payguard
// deduplicates on transaction_id, so that is the event id.
func (p *SandboxV2) Prepare(o *sandbox.Order, now time.Time) error {
	if err := prepareWeChat(o, V2Name, now); err != nil {
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
func v2Fields(o *sandbox.Order, query bool) map[string]string {
	state, amount := o.Status, o.Amount
	if query {
		state, amount = o.QueryStatus, o.QueryAmount
	}
	f := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK",
		"appid": o.AppID, "mch_id": o.MchID, "nonce_str": nonceStr(),
		"openid": o.Buyer, "is_subscribe": "N", "trade_type": "JSAPI", "bank_type": "OTHERS",
		"out_trade_no": o.OutTradeNo, "transaction_id": o.TransactionID,
		"total_fee": strconv.FormatInt(amount, 10), "fee_type": "CNY",
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
func (p *SandboxV2) BuildNotify(o *sandbox.Order, tamper string, _ time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(p.Name(), p.Tamperable(), tamper); err != nil {
		return nil, err
	}
	f := v2Fields(o, false)
	if o.Status == "SUCCESS" {
		f["result_code"] = "SUCCESS"
	} else {
		f["result_code"], f["err_code"], f["err_code_des"] = "FAIL", o.Status, wechatStateDesc[o.Status]
	}
	if p.signType != SignTypeMD5 {
		// Merchants on HMAC-SHA256 get sign_type in their notices; MD5
		// notices leave it out (it is the default).
		f["sign_type"] = p.signType
	}
	signer := &V2Signer{APIKey: p.cfg.APIKey, SignType: p.signType}
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
		other := SignTypeMD5
		if p.signType == SignTypeMD5 {
			other = SignTypeHMACSHA256
		}
		f["sign_type"] = other
		body = (&V2Signer{APIKey: p.cfg.APIKey, SignType: other}).SignNotify(f)
	default:
		body, err = replaceXMLElement(body, tamper, sandbox.TamperedValue(tamper, f[tamper]))
	}
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "text/xml")
	h.Set("User-Agent", "Mozilla/4.0 (payguard sim)")
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// replaceXMLElement replaces the text of the flat element <key> in a
// signed v2 document with value (as CDATA, the way the signer wrote it).
// Values the simulator writes are tokens, so CDATA carries them exactly.
func replaceXMLElement(doc []byte, key, value string) ([]byte, error) {
	open, close := []byte("<"+key+">"), []byte("</"+key+">")
	i := bytes.Index(doc, open)
	if i < 0 {
		return nil, fmt.Errorf("no element %q to tamper with", sandbox.Clip(key))
	}
	start := i + len(open)
	j := bytes.Index(doc[start:], close)
	if j < 0 {
		return nil, fmt.Errorf("element %q is not closed", sandbox.Clip(key))
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
func (p *SandboxV2) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
	mux.HandleFunc("POST /wechatpay/v2/pay/orderquery", func(w http.ResponseWriter, r *http.Request) {
		p.serveQuery(w, r, book)
	})
}

// serveQuery answers orderquery: the request must be signed with the API
// key under its own sign_type; the answer is signed the same way.
func (p *SandboxV2) serveQuery(w http.ResponseWriter, r *http.Request, book *sandbox.OrderBook) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSandboxRequest))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	req, err := ParseXML(body)
	if err != nil {
		v2Fail(w, "XML格式错误")
		return
	}
	st := req["sign_type"]
	if st == "" {
		st = SignTypeMD5
	}
	if st != SignTypeMD5 && st != SignTypeHMACSHA256 {
		v2Fail(w, "sign_type参数错误")
		return
	}
	signer := &V2Signer{APIKey: p.cfg.APIKey, SignType: st}
	if _, err := signer.VerifyRequest(body); err != nil {
		p.cfg.Logf("wechatpay_v2 query refused: sign does not verify with the API key")
		v2Fail(w, "签名错误")
		return
	}
	if req["appid"] == "" || req["mch_id"] == "" || req["nonce_str"] == "" {
		v2Fail(w, "缺少参数")
		return
	}
	var o sandbox.Order
	var ok bool
	if req["transaction_id"] != "" {
		o, ok = book.FindTransaction(V2Name, req["transaction_id"])
	} else {
		o, ok = book.Get(V2Name, req["out_trade_no"])
	}
	var f map[string]string
	if !ok || o.MchID != req["mch_id"] || o.AppID != req["appid"] {
		p.cfg.Logf("wechatpay_v2 query out_trade_no=%s: unknown order (ORDERNOTEXIST)", sandbox.Clip(req["out_trade_no"]))
		f = map[string]string{
			"return_code": "SUCCESS", "return_msg": "OK", "appid": req["appid"], "mch_id": req["mch_id"],
			"nonce_str": nonceStr(), "result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "此交易订单号不存在",
		}
	} else {
		p.cfg.Logf("wechatpay_v2 query out_trade_no=%s: %s %d", o.OutTradeNo, o.QueryStatus, o.QueryAmount)
		f = v2Fields(&o, true)
		f["result_code"] = "SUCCESS"
		f["trade_state"] = o.QueryStatus
		f["trade_state_desc"] = wechatStateDesc[o.QueryStatus]
		f["attach"] = ""
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(signer.SignResponse(f))
}
