package unionpay

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// Transaction types (txnType) payguard maps.
const (
	TxnConsume = "01" // payment
	TxnRefund  = "04"
	TxnVoid    = "31" // 消费撤销, a same-day cancel of a payment
)

// VerifyNotify authenticates a backUrl notification: the strict form, the
// signing certificate (owner, key, validity, chain), the signMethod 01
// signature over the raw values, then merId and the normalized fields.
//
// Every error is a *reason.Error: malformed (400) for what cannot be
// parsed (a duplicated parameter, one also in the URL query, a missing or
// ill-formed field), bad_signature (401) for anything that does not
// authenticate as UnionPay's message to this merchant (a missing or other
// signMethod or version, a certificate that fails a check, a signature
// that does not verify, another merId).
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	if req == nil {
		return nil, reason.New(reason.Malformed, "no request")
	}
	f, err := formbody.Parse(req.Body)
	if err != nil {
		return nil, err
	}
	if err := checkURLQuery(req.RawQuery, f); err != nil {
		return nil, err
	}
	now := req.Now
	if now.IsZero() {
		now = p.now()
	}
	if err := p.authenticate(f, now); err != nil {
		return nil, err
	}
	// Authentic from here on.
	if err := checkUTF8(f); err != nil {
		return nil, err
	}
	return p.normalize(f)
}

// checkUTF8 refuses a form with a key or value that is not UTF-8 (the
// only encoding supported), naming the first such key.
func checkUTF8(f *formbody.Form) error {
	if f.ValidUTF8() {
		return nil
	}
	for i := range f.Len() {
		if k, v := f.At(i); !utf8.ValidString(k) || !utf8.ValidString(v) {
			return reason.New(reason.Malformed, "parameter %s is not valid UTF-8", quoteKey(strings.ToValidUTF8(k, "?")))
		}
	}
	return nil
}

// authenticate checks that f is signed by UnionPay's certificate. It is
// shared by notifications and query answers; its errors are bad_signature
// (or malformed for an unsupported encoding).
func (p *Provider) authenticate(f *formbody.Form, now time.Time) error {
	if v := f.Value("signMethod"); v != SignMethod {
		return reason.New(reason.BadSignature, "signMethod %s, configured %s", quoteKey(v), SignMethod)
	}
	if v := f.Value("version"); v != Version {
		// 5.0.0 names a locally installed certificate by certId instead
		// of carrying one: not supported.
		return reason.New(reason.BadSignature, "version %s, only %s (signPubKeyCert) is supported", quoteKey(v), Version)
	}
	if enc := f.Value("encoding"); !strings.EqualFold(enc, encodingUTF8) {
		return reason.New(reason.Malformed, "encoding %s, only UTF-8 is supported", quoteKey(enc))
	}
	sigB64 := f.Value(fieldSignature)
	if sigB64 == "" {
		return reason.New(reason.BadSignature, "signature missing")
	}
	certPEM := f.Value(fieldCert) // the form's own text, no copy
	if certPEM == "" {
		return reason.New(reason.BadSignature, "signPubKeyCert missing")
	}
	var sigBuf [512]byte // a 4096-bit key's signature; a longer one grows on the heap
	sig, err := base64.StdEncoding.AppendDecode(sigBuf[:0], []byte(sigB64))
	if err != nil {
		return reason.New(reason.BadSignature, "signature is not base64")
	}
	pub, err := p.certs.signingKey(certPEM, now)
	if err != nil {
		return err
	}
	// The signed string on the stack: a notification is 2-3 KiB, most of
	// it the certificate.
	var content [4096]byte
	if verifySignature(pub, f.AppendSigned(content[:0], fieldSignature), sig) != nil {
		return reason.New(reason.BadSignature, "signature does not verify")
	}
	return nil
}

// checkURLQuery refuses a URL query parameter that names a body parameter
// once normalized as frameworks do (case, and '.', ' ', '[' read as '_'):
// UnionPay posts everything in the body, and a shop that merges the two
// could read the unsigned copy.
func checkURLQuery(rawQuery string, body *formbody.Form) error {
	if rawQuery == "" {
		return nil
	}
	q, err := formbody.Parse([]byte(rawQuery))
	if err != nil {
		if re, ok := err.(*reason.Error); ok {
			return reason.New(reason.Malformed, "URL query: %s", re.Detail)
		}
		return err
	}
	signed := make(map[string]bool, body.Len())
	for i := range body.Len() {
		k, _ := body.At(i)
		signed[shadowKey(k)] = true
	}
	for i := range q.Len() {
		if k, _ := q.At(i); signed[shadowKey(k)] {
			return reason.New(reason.Malformed, "URL query parameter %s shadows a body parameter", quoteKey(k))
		}
	}
	return nil
}

func shadowKey(k string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', ' ', '[':
			return '_'
		}
		return r
	}, strings.ToLower(k))
}

// normalize checks the merchant of an authentic notification and builds
// the normalized notification. One pass over the form picks the fields the
// checks read (a lookup each would be a binary search of its own); the
// checks run in the same order as ever. Raw is built from the form only if
// someone reads it (Notification.DeferRaw): a map of some thirty boxed
// strings is a tenth of the verify beside the signature, and a route that
// forwards the original body without policies never reads it.
func (p *Provider) normalize(f *formbody.Form) (*provider.Verified, error) {
	var merID string
	var tt txnText
	for i := range f.Len() {
		k, v := f.At(i)
		if k == "merId" {
			merID = v
		} else {
			tt.pick(k, v, "respCode")
		}
	}
	if merID != p.merID {
		// bad_signature, as alipay's app_id: UnionPay signed it, but not
		// for this merchant (another merchant's notification replayed here).
		return nil, reason.New(reason.BadSignature, "merId mismatch: got %s", quoteKey(merID))
	}
	for _, r := range [...]struct{ name, v string }{
		{"orderId", tt.orderID}, {"queryId", tt.queryID}, {"txnType", tt.txnType}, {"txnTime", tt.txnTime},
		{"respCode", tt.code}, {"txnAmt", tt.txnAmt}, {"currencyCode", tt.currencyCode},
	} {
		if r.v == "" {
			return nil, reason.New(reason.Malformed, "%s missing", r.name)
		}
	}
	txn, err := readTxn(&tt)
	if err != nil {
		return nil, err
	}
	// txnTime is when the merchant sent the order (or the refund), signed:
	// UnionPay signs no send time, so max_age holds it, not tolerance.
	v := &provider.Verified{EventTime: txn.txnTime}
	v.Notification = notification.Notification{
		Provider:      Name,
		EventID:       txn.queryID + ":" + txn.txnType,
		Type:          notification.TypeFor(txn.status),
		OutTradeNo:    txn.orderID,
		TransactionID: txn.queryID,
		Amount:        txn.amount,
		Currency:      txn.currency,
		Status:        txn.status,
		OccurredAt:    txn.txnTime,
		Merchant:      p.merID,
	}
	if txn.txnType == TxnRefund {
		v.Notification.RefundAmount, v.Notification.RefundID = txn.txnAmt, txn.queryID
	}
	v.Notification.DeferRaw(func() map[string]any { return notifyFields(f) })
	return v, nil
}

// notifyFields is a notification's Raw: every parameter but signature and
// signPubKeyCert, each value a string (the form's one string, no copy per
// value), accNo masked. It reads a form already checked and cannot fail.
func notifyFields(f *formbody.Form) map[string]any {
	raw := make(map[string]any, f.Len())
	for i := range f.Len() {
		k, v := f.At(i)
		switch k {
		case fieldSignature, fieldCert:
			continue
		case "accNo":
			v = maskPAN(v)
		}
		raw[k] = v
	}
	return raw
}

// txnFields are the fields a notification and a query answer share.
type txnFields struct {
	orderID, queryID, txnType string
	txnTime                   time.Time
	txnAmt                    int64 // this transaction's amount (a refund's: the refund)
	amount                    int64 // the payment's: origTxnAmt on a refund where given
	hasOrigAmt                bool
	currency                  string
	status                    notification.Status
}

// txnText is the text of the fields readTxn reads ("" when absent).
type txnText struct {
	orderID, queryID, txnType, txnTime, txnAmt, currencyCode string
	code                                                     string // the response code of codeField
	origTxnAmt                                               string
	hasOrigTxnAmt                                            bool
}

// pick keeps v when k is one of the fields readTxn reads; codeField is
// the field whose code says how the transaction ended.
func (tt *txnText) pick(k, v, codeField string) {
	switch k {
	case "orderId":
		tt.orderID = v
	case "queryId":
		tt.queryID = v
	case "txnType":
		tt.txnType = v
	case "txnTime":
		tt.txnTime = v
	case "txnAmt":
		tt.txnAmt = v
	case "currencyCode":
		tt.currencyCode = v
	case "origTxnAmt":
		tt.origTxnAmt, tt.hasOrigTxnAmt = v, true
	case codeField:
		tt.code = v
	}
}

// txnTextOf picks the fields readTxn reads from f.
func txnTextOf(f *formbody.Form, codeField string) *txnText {
	tt := new(txnText)
	for i := range f.Len() {
		k, v := f.At(i)
		tt.pick(k, v, codeField)
	}
	return tt
}

// readTxn reads the transaction fields; tt.code is the response code that
// says how the transaction ended (respCode in a notification, origRespCode
// in a query answer). Errors are malformed.
func readTxn(tt *txnText) (txnFields, error) {
	t := txnFields{orderID: tt.orderID, queryID: tt.queryID, txnType: tt.txnType}
	var ok bool
	if t.txnTime, ok = parseTxnTime(tt.txnTime); !ok {
		return t, reason.New(reason.Malformed, "txnTime is not yyyyMMddHHmmss")
	}
	var err error
	if t.txnAmt, err = parseFen(tt.txnAmt); err != nil {
		return t, reason.New(reason.Malformed, "txnAmt is not a whole number of fen")
	}
	t.amount = t.txnAmt
	if tt.hasOrigTxnAmt && t.txnType == TxnRefund {
		if t.amount, err = parseFen(tt.origTxnAmt); err != nil {
			return t, reason.New(reason.Malformed, "origTxnAmt is not a whole number of fen")
		}
		t.hasOrigAmt = true
	}
	if t.currency, ok = currencyOf(tt.currencyCode); !ok {
		return t, reason.New(reason.Malformed, "currencyCode %s is not supported (only 156, CNY)", quoteKey(tt.currencyCode))
	}
	t.status = mapStatus(t.txnType, tt.code)
	return t, nil
}

// mapStatus is providers.md's status map: a success code (00, or A6:
// success with defects) means paid for a payment, refunded for a refund,
// closed for a void, other for any other transaction type; 03, 04 and 05
// (timed out, in process: ACP's "ask again later") mean pending; every
// other code failed.
func mapStatus(txnType, code string) notification.Status {
	switch code {
	case "00", "A6":
	case "03", "04", "05":
		return notification.StatusPending
	default:
		return notification.StatusFailed
	}
	switch txnType {
	case TxnConsume:
		return notification.StatusPaid
	case TxnRefund:
		return notification.StatusRefunded
	case TxnVoid:
		return notification.StatusClosed
	}
	return notification.StatusOther
}

// parseFen reads an amount in fen: digits, no sign, no leading zero.
func parseFen(s string) (int64, error) {
	return notification.ParseDecimal(s, 0)
}

// currencyOf maps ISO 4217 numeric codes to alpha ones. The online gateway
// settles CNY; another code is refused rather than guessed at, since its
// minor unit in txnAmt is not documented here.
func currencyOf(numeric string) (string, bool) {
	if numeric == "156" {
		return "CNY", true
	}
	return "", false
}

func parseTxnTime(s string) (time.Time, bool) {
	if len(s) != len(TimeLayout) || !isDigits(s) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(TimeLayout, s, beijing)
	return t, err == nil
}

// maskPAN keeps a full card number out of raw (and so out of the
// forwarded body's normalized form and policies): UnionPay masks accNo
// itself, but a plain 12-19 digit value is masked to its first 6 and last
// 4 digits.
func maskPAN(acc string) string {
	if len(acc) < 12 || len(acc) > 19 || !isDigits(acc) {
		return acc
	}
	return acc[:6] + strings.Repeat("*", len(acc)-10) + acc[len(acc)-4:]
}
