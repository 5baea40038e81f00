package wechatpay

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// V2Name is the provider name of WeChat Pay API v2.
const V2Name = "wechatpay_v2"

// The two v2 sign types.
const (
	SignTypeMD5        = "MD5"
	SignTypeHMACSHA256 = "HMAC-SHA256"
)

// DefaultV2Endpoint is the production orderquery API.
const DefaultV2Endpoint = "https://api.mch.weixin.qq.com/pay/orderquery"

// v2 time layouts: time_end (payment) and success_time (refund), both in
// Beijing time without an offset.
const (
	v2TimeEnd       = "20060102150405"
	v2RefundSuccess = "2006-01-02 15:04:05"
)

// V2Config configures wechatpay_v2. It is parsed once by NewV2 and not kept.
type V2Config struct {
	// MchID and AppID must equal every message's mch_id and appid.
	MchID string
	AppID string
	// APIKey is the 32-character API key (v2) of the merchant console.
	APIKey []byte
	// SignType is MD5 (the default) or HMAC-SHA256. It alone decides the
	// algorithm; a message naming another is rejected.
	SignType string
	// Endpoint is the orderquery URL, DefaultV2Endpoint when empty (the
	// sandbox's or the simulator's otherwise).
	Endpoint string
	// HTTPClient makes queries; a client with a 10s timeout that follows no
	// redirects when nil.
	HTTPClient *http.Client
}

// V2 is the wechatpay_v2 provider. It is safe for concurrent use.
type V2 struct {
	mchID     string
	appID     string
	apiKey    []byte
	signType  string
	refundKey []byte // lower-hex MD5 of the API key: the req_info AES-256 key
	endpoint  string
	client    *http.Client
}

var (
	_ provider.Provider = (*V2)(nil)
	_ provider.Querier  = (*V2)(nil)
)

// NewV2 checks and parses cfg. Errors never echo the API key.
func NewV2(cfg V2Config) (*V2, error) {
	p := &V2{
		mchID:    cfg.MchID,
		appID:    cfg.AppID,
		endpoint: cfg.Endpoint,
		client:   cfg.HTTPClient,
	}
	if p.mchID == "" {
		return nil, errors.New("wechatpay_v2: mch_id is required")
	}
	if p.appID == "" {
		return nil, errors.New("wechatpay_v2: app_id is required")
	}
	if err := CheckAPIKey(cfg.APIKey); err != nil {
		return nil, fmt.Errorf("wechatpay_v2: api_key: %v", err)
	}
	p.apiKey = append([]byte(nil), cfg.APIKey...)
	sum := md5.Sum(p.apiKey)
	p.refundKey = []byte(hex.EncodeToString(sum[:]))
	switch st := strings.ToUpper(cfg.SignType); st {
	case "", SignTypeMD5:
		p.signType = SignTypeMD5
	case SignTypeHMACSHA256:
		p.signType = SignTypeHMACSHA256
	default:
		return nil, fmt.Errorf("wechatpay_v2: sign_type must be MD5 or HMAC-SHA256, got %s", short(cfg.SignType))
	}
	if p.endpoint == "" {
		p.endpoint = DefaultV2Endpoint
	}
	if err := checkEndpoint("wechatpay_v2: query endpoint", p.endpoint); err != nil {
		return nil, err
	}
	if p.client == nil {
		p.client = defaultHTTPClient()
	}
	return p, nil
}

// Name implements provider.Provider.
func (p *V2) Name() string { return V2Name }

// Traits implements provider.Provider: notifications are POSTed.
func (p *V2) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// CanQuery reports whether QueryOrder can run: v2 queries need only the API
// key, so always.
func (p *V2) CanQuery() bool { return true }

// v2SignString is what v2 signs: the non-empty fields except sign, sorted
// by key (byte order), joined as k=v&..., then &key=<API key>. sign_type,
// when present, is a field like any other and is signed.
func v2SignString(fields map[string]string, apiKey []byte) []byte {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fields[k])
	}
	b.WriteString("&key=")
	b.Write(apiKey)
	return b.Bytes()
}

// v2Digest computes the v2 signature bytes: MD5 of v2SignString, or
// HMAC-SHA256 keyed with the API key over the same string (the key is
// appended there too).
func v2Digest(fields map[string]string, apiKey []byte, signType string) []byte {
	msg := v2SignString(fields, apiKey)
	if signType == SignTypeHMACSHA256 {
		m := hmac.New(sha256.New, apiKey)
		m.Write(msg)
		return m.Sum(nil)
	}
	s := md5.Sum(msg)
	return s[:]
}

// v2Sign is v2Digest as WeChat writes it: upper-case hex.
func v2Sign(fields map[string]string, apiKey []byte, signType string) string {
	return strings.ToUpper(hex.EncodeToString(v2Digest(fields, apiKey, signType)))
}

// checkV2Sign verifies fields' sign with the configured algorithm. A
// message whose sign_type differs from the configuration is refused before
// any hashing (the downgrade case: an MD5 sign offered to an HMAC-SHA256
// merchant). An absent sign_type is allowed, because WeChat documents it as
// optional; the configured algorithm is used regardless. Both hex sides
// are decoded and compared with hmac.Equal, so hex case does not matter
// and timing leaks nothing.
func checkV2Sign(fields map[string]string, apiKey []byte, signType string) *reason.Error {
	sign := fields["sign"]
	if sign == "" {
		return reason.New(reason.BadSignature, "sign missing")
	}
	if st, ok := fields["sign_type"]; ok && st != signType {
		return reason.New(reason.BadSignature, "sign_type %s is not the configured %s", short(st), signType)
	}
	got, err := hex.DecodeString(sign)
	if err != nil {
		return reason.New(reason.BadSignature, "sign is not hex")
	}
	if !hmac.Equal(got, v2Digest(fields, apiKey, signType)) {
		return reason.New(reason.BadSignature, "sign does not verify (%s)", signType)
	}
	return nil
}

// checkAccount holds appid and mch_id to the configuration: a message for
// another merchant or app is not believed here (bad_signature).
func (p *V2) checkAccount(fields map[string]string) *reason.Error {
	if fields["appid"] != p.appID {
		return reason.New(reason.BadSignature, "appid mismatch")
	}
	if fields["mch_id"] != p.mchID {
		return reason.New(reason.BadSignature, "mch_id mismatch")
	}
	return nil
}

// VerifyNotify implements provider.Provider for payment notices (signed)
// and refund notices (req_info, unsigned).
//
// return_code must be SUCCESS first: a FAIL notice is a communication
// error report without trade data or signature, nothing to forward, so it
// is malformed (400; WeChat does not act on it either way).
//
// v2 signs no timestamp, and nonce_str repeats on retries, so Verified has
// neither; the event id (transaction_id) is what deduplicates, and the
// signed time_end, as EventTime, bounds a replay's age (max_age).
func (p *V2) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	if req == nil {
		return nil, reason.New(reason.Malformed, "no request")
	}
	fields, plain, err := parseNotifyXML(req.Body)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification")
	}
	if fields["return_code"] != "SUCCESS" {
		return nil, reason.New(reason.Malformed, "return_code is not SUCCESS")
	}
	if err := checkNotificationKind(fields); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "message")
	}
	if req.ForwardOriginal && !plain {
		// The shop parses these bytes itself. (A body the one-pass reader
		// found plain passes this check; only the others are walked.)
		if err := checkPlainValues(req.Body); err != nil {
			return nil, reason.Wrap(reason.Malformed, err, "forward original")
		}
	}
	var n *notification.Notification
	var rerr *reason.Error
	if _, ok := fields["req_info"]; ok {
		n, rerr = p.refundNotification(fields)
	} else {
		n, rerr = p.paymentNotification(fields)
	}
	if rerr != nil {
		return nil, rerr
	}
	// v2 signs no send time; time_end (a refund's success_time) is the
	// signed event time the pipeline holds to max_age.
	return &provider.Verified{Notification: *n, EventTime: n.OccurredAt}, nil
}

// v2ResultStatus maps a payment notice's result_code.
func v2ResultStatus(s string) (notification.Status, bool) {
	switch s {
	case "SUCCESS":
		return notification.StatusPaid, true
	case "FAIL":
		return notification.StatusFailed, true
	}
	return "", false
}

func (p *V2) paymentNotification(fields map[string]string) (*notification.Notification, *reason.Error) {
	if rerr := checkV2Sign(fields, p.apiKey, p.signType); rerr != nil {
		return nil, rerr
	}
	if rerr := p.checkAccount(fields); rerr != nil {
		return nil, rerr
	}
	status, ok := v2ResultStatus(fields["result_code"])
	if !ok {
		return nil, reason.New(reason.Malformed, "result_code is neither SUCCESS nor FAIL")
	}
	n := &notification.Notification{
		Provider:      V2Name,
		EventID:       fields["transaction_id"],
		Type:          notification.TypeFor(status),
		OutTradeNo:    fields["out_trade_no"],
		TransactionID: fields["transaction_id"],
		Status:        status,
		Merchant:      fields["mch_id"],
	}
	// transaction_id is the event id: without it there is nothing stable
	// across retries to deduplicate on.
	if n.TransactionID == "" {
		return nil, reason.New(reason.Malformed, "transaction_id missing")
	}
	if n.OutTradeNo == "" {
		return nil, reason.New(reason.Malformed, "out_trade_no missing")
	}
	var err error
	if n.Amount, err = v2Fen(fields, "total_fee", status == notification.StatusPaid); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification")
	}
	n.Currency = v2Currency(fields["fee_type"])
	if n.OccurredAt, err = v2Time(fields, "time_end", v2TimeEnd); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification")
	}
	if status == notification.StatusPaid && n.OccurredAt.IsZero() {
		// Without it a paid notice's age could not be held to max_age.
		return nil, reason.New(reason.Malformed, "time_end missing")
	}
	// Raw, a copy of every field boxed in an any, is built only if
	// someone reads it (Notification.DeferRaw): fields is this notice's
	// own, read by nothing else after.
	n.DeferRaw(func() map[string]any { return rawFields(fields, "sign") })
	return n, nil
}

// v2Fen reads an integer fen amount. required: absent is an error;
// otherwise absent is 0. Present but not a plain integer is always an error.
func v2Fen(fields map[string]string, key string, required bool) (int64, error) {
	s, ok := fields[key]
	if !ok || s == "" {
		if required {
			return 0, fmt.Errorf("%s missing", key)
		}
		return 0, nil
	}
	v, ok := parseUint(s)
	if !ok {
		return 0, fmt.Errorf("%s is not an integer amount in fen", key)
	}
	return v, nil
}

// v2Currency is fee_type, CNY when absent as WeChat documents.
func v2Currency(s string) string {
	if s == "" {
		return "CNY"
	}
	return s
}

// v2Time parses a Beijing-time field; absent is the zero time.
func v2Time(fields map[string]string, key, layout string) (time.Time, error) {
	s := fields[key]
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(layout, s, beijing)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not a time", key)
	}
	return t.UTC(), nil
}

// rawFields copies fields into the notification's Raw, without the
// signature fields named.
func rawFields(fields map[string]string, drop ...string) map[string]any {
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	return m
}

// v2RefundStatus maps refund_status, with the event type payguard gives it
// (v2 has no event types of its own).
func v2RefundStatus(s string) (notification.Status, string) {
	switch s {
	case "SUCCESS":
		return notification.StatusRefunded, "refund.succeeded"
	case "CHANGE":
		return notification.StatusFailed, "refund.failed"
	case "REFUNDCLOSE":
		return notification.StatusOther, "refund.closed"
	}
	return notification.StatusOther, "refund.other"
}

// refundNotification authenticates a refund notice by decrypting req_info.
//
// WeChat does not sign refund notices; only WeChat and the merchant know the
// API key, so a req_info that decrypts under it, pads correctly and parses
// as the expected <root> document is taken as genuine. That is weak (ECB,
// no MAC), which is why refunds must always be reverse-queried. Any
// decryption, padding or plaintext-XML failure is bad_signature: with no
// MAC, "decrypts to the document" is the signature check. A sign, if a
// notice ever carries one, must verify too. The outer appid and mch_id are
// unauthenticated, checked for routing only.
func (p *V2) refundNotification(fields map[string]string) (*notification.Notification, *reason.Error) {
	if rerr := p.checkAccount(fields); rerr != nil {
		return nil, rerr
	}
	if _, signed := fields["sign"]; signed {
		if rerr := checkV2Sign(fields, p.apiKey, p.signType); rerr != nil {
			return nil, rerr
		}
	}
	pt, err := decryptReqInfo(p.refundKey, fields["req_info"])
	if err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "req_info")
	}
	info, err := parseFlatXML(pt, "root")
	if err != nil {
		return nil, reason.New(reason.BadSignature, "req_info does not decrypt to a <root> document")
	}
	status, typ := v2RefundStatus(info["refund_status"])
	n := &notification.Notification{
		Provider:      V2Name,
		Type:          typ,
		OutTradeNo:    info["out_trade_no"],
		TransactionID: info["transaction_id"],
		Status:        status,
		Merchant:      fields["mch_id"],
	}
	for _, k := range []string{"transaction_id", "refund_id", "out_trade_no", "refund_status"} {
		if info[k] == "" {
			return nil, reason.New(reason.Malformed, "req_info: %s missing", k)
		}
	}
	n.EventID = info["transaction_id"] + ":refund:" + info["refund_id"]
	// Amount is the payment's (total_fee), as on every notification;
	// RefundAmount what this refund moved (refund_fee), RefundID the
	// merchant's number of this refund.
	if n.Amount, err = v2Fen(info, "total_fee", true); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "req_info")
	}
	if n.RefundAmount, err = v2Fen(info, "refund_fee", true); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "req_info")
	}
	if n.RefundAmount > n.Amount {
		return nil, reason.New(reason.Malformed, "req_info: refund_fee exceeds total_fee")
	}
	n.RefundID = info["out_refund_no"]
	n.Currency = v2Currency(info["fee_type"])
	if n.OccurredAt, err = v2Time(info, "success_time", v2RefundSuccess); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "req_info")
	}
	n.DeferRaw(func() map[string]any { // as a payment notice's Raw
		raw := rawFields(fields, "sign", "req_info")
		raw["req_info"] = rawFields(info)
		return raw
	})
	return n, nil
}

// decryptReqInfo is base64 → AES-256-ECB → strict PKCS#7. ECB is a loop over
// the block cipher: each 16-byte block decrypted on its own (it is a mode,
// not a primitive, and Go's crypto/cipher deliberately has none).
func decryptReqInfo(key []byte, s string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, errors.New("not whole AES blocks")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("bad key length") // unreachable: 32 hex chars
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		block.Decrypt(pt[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	return pkcs7Unpad(pt, aes.BlockSize)
}

// pkcs7Unpad checks every padding byte, not only the last: a lax unpad
// would accept more wrong-key plaintexts.
func pkcs7Unpad(b []byte, size int) ([]byte, error) {
	if len(b) == 0 || len(b)%size != 0 {
		return nil, errors.New("bad padding")
	}
	n := int(b[len(b)-1])
	if n == 0 || n > size {
		return nil, errors.New("bad padding")
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, errors.New("bad padding")
		}
	}
	return b[:len(b)-n], nil
}

// encryptReqInfo is the inverse of decryptReqInfo, for the simulator.
func encryptReqInfo(key, pt []byte) string {
	block, _ := aes.NewCipher(key) // key is 32 hex chars
	pad := aes.BlockSize - len(pt)%aes.BlockSize
	buf := make([]byte, len(pt)+pad)
	copy(buf, pt)
	for i := len(pt); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	for i := 0; i < len(buf); i += aes.BlockSize {
		block.Encrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// v2AckSuccess is WeChat's documented success answer. A constant, copied
// into each Ack, so no caller can alter the next one's body.
const v2AckSuccess = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

// Acknowledge implements provider.Provider: 200 with the SUCCESS XML, or
// the given status with return_code FAIL and the reason code as return_msg.
// v2 judges by body, so the status is passed through as the pipeline chose
// it (the contract's status for the reason, or that status when none is
// given).
func (p *V2) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	const ct = "text/xml; charset=utf-8"
	if ok {
		return provider.Ack{Status: http.StatusOK, ContentType: ct, Body: []byte(v2AckSuccess)}
	}
	if status == 0 {
		status = reason.HTTPStatus(code)
	}
	body := renderXMLOrdered("xml", [][2]string{{"return_code", "FAIL"}, {"return_msg", string(code)}})
	return provider.Ack{Status: status, ContentType: ct, Body: body}
}

// renderXMLOrdered is renderXML with the order given (acknowledgements put
// return_code first, as WeChat's examples do).
func renderXMLOrdered(root string, kv [][2]string) []byte {
	var b bytes.Buffer
	b.WriteString("<" + root + ">")
	for _, f := range kv {
		writeXMLElement(&b, f[0], f[1])
	}
	b.WriteString("</" + root + ">")
	return b.Bytes()
}
