package alipay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// VerifyNotify parses and authenticates an Alipay notification: the POST
// body in notify mode, the request's raw query string in return mode.
//
// Order of checks, cheapest first and nothing believed before the
// signature holds: strict form parsing (and, in notify mode, no parameter
// both in the URL query and the body); sign_type equal to the configured
// one; a sign present; a known charset; in certificate mode an
// alipay_cert_sn, when present, equal to the configured certificate's; the
// RSA signature over the raw bytes (rule V1, then V2); then app_id,
// seller_id, the amount and the other fields.
//
// Every error is a *reason.Error: malformed (400) for what cannot be parsed,
// bad_signature (401) for anything that does not authenticate as addressed
// to this app, unknown_key (401) for another Alipay certificate,
// never stale_timestamp (the pipeline checks notify_time). A missing sign or sign_type is
// bad_signature: it is an authentication failure, not a syntax one.
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	if req == nil {
		return nil, reason.New(reason.Malformed, "no request")
	}
	var input []byte
	if p.mode == ModeReturn {
		if len(req.Body) != 0 {
			return nil, reason.New(reason.Malformed, "return mode takes no body")
		}
		input = []byte(req.RawQuery)
	} else {
		input = req.Body
	}
	form, err := ParseForm(input)
	if err != nil {
		return nil, err
	}
	if p.mode == ModeNotify && req.RawQuery != "" {
		// Alipay posts everything in the body; the URL query is unsigned.
		// A parameter in both lets whatever merges the two (the shop's
		// framework, which receives the URL unchanged; smartwalle/alipay#186)
		// read the unsigned copy, so it is refused, not ignored.
		q, err := ParseForm([]byte(req.RawQuery))
		if err != nil {
			if re, ok := err.(*reason.Error); ok {
				return nil, reason.New(reason.Malformed, "URL query: %s", re.Detail)
			}
			return nil, err
		}
		for i := range q.Len() {
			if k, _ := q.At(i); form.Has(k) {
				return nil, reason.New(reason.Malformed, "parameter %s is both in the URL query and the body", quoteKey(k))
			}
		}
	}

	st, ok := form.Lookup("sign_type")
	if !ok {
		return nil, reason.New(reason.BadSignature, "sign_type missing")
	}
	if st != p.signType {
		return nil, reason.New(reason.BadSignature, "sign_type %s, configured %s", quoteKey(st), p.signType)
	}
	signB64 := form.Value("sign")
	if signB64 == "" {
		return nil, reason.New(reason.BadSignature, "sign missing")
	}
	dec, err := charsetDecoder(form)
	if err != nil {
		return nil, err
	}
	if p.certMode {
		if sn, ok := form.Lookup("alipay_cert_sn"); ok && sn != p.certSN {
			return nil, reason.New(reason.UnknownKey, "alipay_cert_sn %s is not the configured certificate's", quoteKey(sn))
		}
	}
	var sigBuf [512]byte // a 4096-bit key's signature; a longer one grows on the heap
	sig, err := base64.StdEncoding.AppendDecode(sigBuf[:0], []byte(signB64))
	if err != nil {
		return nil, reason.New(reason.BadSignature, "sign is not base64")
	}
	if !p.verifyForm(form, sig) {
		return nil, reason.New(reason.BadSignature, "signature does not verify")
	}

	// Authentic from here on. Transcode to UTF-8 now, never before.
	params, err := toUTF8(form, dec)
	if err != nil {
		return nil, err
	}
	return p.normalize(params)
}

// verifyForm checks sig over the sorted `k=v&...` string of raw bytes, first
// by rule V1 (sign and sign_type left out, Java's rsaCheckV1, used by
// trade_status_sync) and then by rule V2 (only sign left out, used by
// open-platform notifications), as the Node SDK does. V2 differs from V1
// only by the `sign_type=<configured>` pair (sign_type already equals the
// configuration), so it accepts nothing but a string Alipay signed in the
// same k=v form; the app_id check after it keeps other apps' messages out.
// Empty values are kept (`k=`), as Java does; Alipay does not send empty
// parameters in practice.
func (p *Provider) verifyForm(form *Form, sig []byte) bool {
	content := make([]byte, 0, 2048) // on the stack: a notification is 1-2 KiB
	if p.verifyBytes(appendSignContent(content, form, true), sig) {
		return true
	}
	return p.verifyBytes(appendSignContent(content[:0], form, false), sig)
}

// appendSignContent appends the signed string to dst, leaving out sign,
// and sign_type too when dropSignType.
func appendSignContent(dst []byte, form *Form, dropSignType bool) []byte {
	if dropSignType {
		return form.AppendSigned(dst, "sign", "sign_type")
	}
	return form.AppendSigned(dst, "sign")
}

func (p *Provider) verifyBytes(msg, sig []byte) bool {
	return verifyPKCS1(p.alipayKey, p.hash, msg, sig) == nil
}

func verifyPKCS1(pub *rsa.PublicKey, h crypto.Hash, msg, sig []byte) error {
	if h == crypto.SHA1 {
		d := sha1.Sum(msg)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, d[:], sig)
	}
	d := sha256.Sum256(msg)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
}

// charsetDecoder returns the decoder for the message's signed charset
// parameter (nil for UTF-8, the default when absent). The Content-Type's
// charset is not signed and is ignored.
func charsetDecoder(form *Form) (*encoding.Decoder, error) {
	cs, ok := form.Lookup("charset")
	if !ok {
		return nil, nil
	}
	switch strings.ToLower(cs) {
	case "utf-8", "utf8":
		return nil, nil
	case "gbk", "gb2312":
		// GB2312 is a subset of GBK; Alipay's "gb2312" is GBK in practice.
		return simplifiedchinese.GBK.NewDecoder(), nil
	case "gb18030":
		return simplifiedchinese.GB18030.NewDecoder(), nil
	}
	return nil, reason.New(reason.Malformed, "unknown charset %s", quoteKey(cs))
}

// params are the parameters of an authentic notification in UTF-8, all
// but sign and sign_type, read by the checks through get and lookup. A
// body in UTF-8 (what Alipay sends) is read in its parsed form, and the
// notification's Raw map is built from it only if someone asks
// (Notification.DeferRaw); a body in another charset is transcoded once,
// into utf8.
type params struct {
	form *Form
	utf8 map[string]string // non-nil: the transcoded parameters
}

// lookup is the value of k and whether it is present.
func (ps params) lookup(k string) (string, bool) {
	if ps.utf8 != nil {
		v, ok := ps.utf8[k]
		return v, ok
	}
	if k == "sign" || k == "sign_type" {
		return "", false
	}
	return ps.form.Lookup(k)
}

// get is the value of k, "" when absent.
func (ps params) get(k string) string {
	v, _ := ps.lookup(k)
	return v
}

// has reports whether k is present.
func (ps params) has(k string) bool {
	_, ok := ps.lookup(k)
	return ok
}

// fields is the normalized notification's Raw: every parameter, each
// value a string.
func (ps params) fields() map[string]any {
	if ps.utf8 != nil {
		out := make(map[string]any, len(ps.utf8))
		for k, v := range ps.utf8 {
			out[k] = v
		}
		return out
	}
	out := make(map[string]any, ps.form.Len())
	for i := range ps.form.Len() {
		if k, v := ps.form.At(i); k != "sign" && k != "sign_type" {
			out[k] = v
		}
	}
	return out
}

// toUTF8 returns every parameter except sign and sign_type as UTF-8. With a
// UTF-8 charset, invalid UTF-8 is malformed rather than silently replaced:
// Alipay never sends it, and these values become headers and JSON.
func toUTF8(form *Form, dec *encoding.Decoder) (params, error) {
	if dec == nil {
		// One check of the whole decoded body instead of two per
		// parameter; only a body that fails it is checked parameter by
		// parameter, for the error's name.
		if form.ValidUTF8() {
			return params{form: form}, nil
		}
		for i := range form.Len() {
			if k, v := form.At(i); k != "sign" && k != "sign_type" && (!utf8.ValidString(k) || !utf8.ValidString(v)) {
				return params{}, reason.New(reason.Malformed, "parameter %s: not valid UTF-8", quoteKey(strings.ToValidUTF8(k, "?")))
			}
		}
		// Only sign or sign_type is invalid, and neither is a parameter.
		return params{form: form}, nil
	}
	out := make(map[string]string, form.Len())
	for i := range form.Len() {
		k, v := form.At(i)
		if k == "sign" || k == "sign_type" {
			continue
		}
		kb, err := dec.Bytes([]byte(k))
		if err != nil {
			return params{}, reason.New(reason.Malformed, "parameter %s: not in its charset", quoteKey(k))
		}
		vb, err := dec.Bytes([]byte(v))
		if err != nil {
			return params{}, reason.New(reason.Malformed, "parameter %s: not in its charset", quoteKey(k))
		}
		k, v = string(kb), string(vb)
		if _, dup := out[k]; dup {
			// Two raw keys that transcode to one: refuse rather than
			// pick. (Untranscoded, the form's keys are unique.)
			return params{}, reason.New(reason.Malformed, "parameter %s occurs twice after transcoding", quoteKey(k))
		}
		out[k] = v
	}
	return params{form: form, utf8: out}, nil
}

// normalize checks the merchant fields of an authentic notification and
// builds the normalized notification.
func (p *Provider) normalize(params params) (*provider.Verified, error) {
	if err := p.checkShape(params); err != nil {
		return nil, err
	}
	m, err := p.readMoney(params)
	if err != nil {
		return nil, err
	}
	// Alipay signs no send time, but signs when it sent the notification
	// (notify_time; a return's timestamp): the pipeline holds it to max_age
	// (freshness lives in the pipeline alone). A notification must carry
	// it, or a replay of any age could not be told apart.
	eventTime, err := p.eventTime(params)
	if err != nil {
		return nil, err
	}

	eventID := params.get("notify_id")
	if p.mode == ModeReturn {
		// A return carries no notify_id; it is never claimed, so the trade
		// number serves to correlate it in logs and headers.
		eventID = params.get("trade_no")
	}
	v := &provider.Verified{
		EventTime: eventTime,
		Notification: notification.Notification{
			Provider:      Name,
			EventID:       eventID,
			Type:          notification.TypeFor(m.status),
			OutTradeNo:    params.get("out_trade_no"),
			TransactionID: params.get("trade_no"),
			Amount:        m.amount,
			Currency:      m.currency,
			Status:        m.status,
			OccurredAt:    occurredAt(params, m.status),
			RefundAmount:  m.refundAmount,
			RefundID:      refundID(params, m.status),
			Merchant:      p.appID,
		},
	}
	v.Notification.DeferRaw(params.fields)
	return v, nil
}

// checkShape checks that a verified message is addressed to this app and
// names what its kind must name.
func (p *Provider) checkShape(params params) error {
	if p.mode == ModeReturn {
		if err := checkReturnShape(params); err != nil {
			return err
		}
	}
	if got := params.get("app_id"); got != p.appID {
		// bad_signature, not unknown_key: the signature is Alipay's, but the
		// message does not authenticate as addressed to this app (a
		// notification for another app sharing the key, replayed here).
		// unknown_key stays reserved for key selection, so its alerts mean
		// "rotate the certificate".
		return reason.New(reason.BadSignature, "app_id mismatch: got %s", quoteKey(got))
	}
	if p.sellerID != "" {
		if got, ok := params.lookup("seller_id"); !ok || got != p.sellerID {
			return reason.New(reason.BadSignature, "seller_id mismatch: got %s", quoteKey(got))
		}
	}

	// A trade notification (or a browser return, which is always about a
	// trade) must name the trade and its amount. Other open-platform
	// notifications (alipay.open.servicemarket.order.notify, ...) need not:
	// they verify, with amount 0 and status other.
	trade := params.has("trade_status") || params.get("notify_type") == "trade_status_sync" || p.mode == ModeReturn
	if trade {
		for _, k := range []string{"out_trade_no", "trade_no", "total_amount"} {
			if params.get(k) == "" {
				return reason.New(reason.Malformed, "%s missing", k)
			}
		}
	}
	if p.mode == ModeNotify && params.get("notify_id") == "" {
		return reason.New(reason.Malformed, "notify_id missing")
	}
	return nil
}

// money is what a notification says was paid or refunded.
type money struct {
	currency     string
	amount       int64
	status       notification.Status
	refundAmount int64
}

func (p *Provider) readMoney(params params) (money, error) {
	m := money{currency: "CNY"}
	if tc, ok := params.lookup("trans_currency"); ok {
		if !notification.IsCurrencyCode(tc) {
			return m, reason.New(reason.Malformed, "trans_currency is not an ISO 4217 code")
		}
		// Cross-border: total_amount is in trans_currency.
		m.currency = tc
	}
	exp := notification.CurrencyExponent(m.currency)
	if s, ok := params.lookup("total_amount"); ok {
		a, err := notification.ParseDecimal(s, exp)
		if err != nil {
			return m, reason.New(reason.Malformed, "total_amount is not a plain decimal")
		}
		m.amount = a
	}
	status, err := mapStatus(params.get("trade_status"), params.get("refund_fee"), exp)
	if err != nil {
		return m, err
	}
	m.status = status
	if p.mode == ModeReturn {
		// A return is no proof of payment: pending, unless the pipeline's
		// query confirms the trade.
		m.status = notification.StatusPending
	}
	// A refund notice: total_amount stays the payment's (Payguard-Amount),
	// refund_fee is the trade's refunds so far, out_biz_no this refund.
	if m.status == notification.StatusRefunded {
		m.refundAmount, _ = notification.ParseDecimal(params.get("refund_fee"), exp)
	}
	return m, nil
}

// refundID is a refund notice's out_biz_no (the refund request's number).
func refundID(params params, status notification.Status) string {
	if status != notification.StatusRefunded {
		return ""
	}
	return params.get("out_biz_no")
}

// eventTime is the signed notify_time of a notification, or the signed
// timestamp of a browser return; both required.
func (p *Provider) eventTime(params params) (time.Time, error) {
	field := "notify_time"
	if p.mode == ModeReturn {
		field = "timestamp"
	}
	t, ok := parseBeijing(params.get(field))
	if !ok {
		return time.Time{}, reason.New(reason.Malformed, "%s missing or not a time", field)
	}
	return t.UTC(), nil
}

// mapStatus is providers.md's status map. refund_fee > 0 marks a refund
// notice: TRADE_SUCCESS with it is a partial refund, TRADE_CLOSED with it a
// full one. TRADE_FINISHED with a refund_fee (not listed there; the trade
// admits no more refunds) is treated the same way rather than as paid.
func mapStatus(tradeStatus, refundFee string, exp int) (notification.Status, error) {
	refunded := false
	if refundFee != "" {
		fee, err := notification.ParseDecimal(refundFee, exp)
		if err != nil {
			return "", reason.New(reason.Malformed, "refund_fee is not a plain decimal")
		}
		refunded = fee > 0
	}
	switch tradeStatus {
	case "WAIT_BUYER_PAY":
		return notification.StatusPending, nil
	case "TRADE_SUCCESS", "TRADE_FINISHED":
		if refunded {
			return notification.StatusRefunded, nil
		}
		return notification.StatusPaid, nil
	case "TRADE_CLOSED":
		if refunded {
			return notification.StatusRefunded, nil
		}
		return notification.StatusClosed, nil
	}
	return notification.StatusOther, nil
}

// occurredAt picks the time of the event the status describes: the refund
// or close time when there is one, else the payment time, else when Alipay
// sent it. An unparseable time is not fatal (zero).
func occurredAt(params params, status notification.Status) time.Time {
	fields := []string{"gmt_payment", "notify_time", "timestamp"}
	switch status {
	case notification.StatusRefunded:
		fields = append([]string{"gmt_refund"}, fields...)
	case notification.StatusClosed:
		fields = append([]string{"gmt_close"}, fields...)
	}
	for _, f := range fields {
		if t, ok := parseBeijing(params.get(f)); ok {
			return t.UTC()
		}
	}
	return time.Time{}
}

func parseBeijing(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(timeLayout, s, beijing)
	return t, err == nil
}
