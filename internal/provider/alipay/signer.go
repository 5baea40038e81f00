package alipay

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

// Signer signs like Alipay, with a test key, for the simulator and tests:
// notifications (rule V1) and gateway answers. It is never used to verify.
type Signer struct {
	Key      *rsa.PrivateKey
	SignType string // SignTypeRSA2 (default) or SignTypeRSA
	// CertSN, when set, is put in gateway answers as alipay_cert_sn
	// (certificate mode): CertSN of the certificate holding Key's public key.
	CertSN string
}

func (s *Signer) signType() (string, crypto.Hash, error) {
	switch s.SignType {
	case "", SignTypeRSA2:
		return SignTypeRSA2, crypto.SHA256, nil
	case SignTypeRSA:
		return SignTypeRSA, crypto.SHA1, nil
	}
	return "", 0, fmt.Errorf("alipay signer: unknown sign type %q", s.SignType)
}

// Sign signs content and returns the base64 signature, as Alipay puts it in
// `sign`.
func (s *Signer) Sign(content []byte) (string, error) {
	if s == nil || s.Key == nil {
		return "", errors.New("alipay signer: no key")
	}
	_, h, err := s.signType()
	if err != nil {
		return "", err
	}
	sig, err := signPKCS1(s.Key, h, content)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// SignNotify signs params as an async notification and returns the form
// body Alipay would POST: params plus sign_type and sign (rule V1: sorted
// params except sign and sign_type, empty values kept), form-encoded in
// sorted order. Values are taken as raw bytes: for a GBK notification put
// GBK-encoded strings in params and "charset" "GBK".
func (s *Signer) SignNotify(params map[string]string) ([]byte, error) {
	st, _, err := s.signType()
	if err != nil {
		return nil, err
	}
	// Rule V1: empty values are kept.
	content := joinSorted(params, func(k, _ string) bool { return k != "sign" && k != "sign_type" })
	sign, err := s.Sign(content)
	if err != nil {
		return nil, err
	}
	vals := make(url.Values, len(params)+2)
	for k, v := range params {
		vals.Set(k, v)
	}
	vals.Set("sign_type", st)
	vals.Set("sign", sign)
	return []byte(vals.Encode()), nil
}

// SignResponse wraps response (the JSON object a method answers, as raw
// bytes) into a signed gateway answer:
// {"<method with . as _>_response":<response>,"sign":"..."} plus
// "alipay_cert_sn" when CertSN is set. The signature covers response's
// bytes exactly.
func (s *Signer) SignResponse(method string, response []byte) ([]byte, error) {
	// No surrounding whitespace: the verifier slices the value from its '{'
	// to its '}', so bytes outside would be signed but not sliced.
	if _, err := scanObject(response); err != nil || response[0] != '{' || response[len(response)-1] != '}' {
		return nil, errors.New("alipay signer: response is not a JSON object without surrounding space")
	}
	sign, err := s.Sign(response)
	if err != nil {
		return nil, err
	}
	var b []byte
	b = append(b, `{"`...)
	b = append(b, ResponseKey(method)...)
	b = append(b, `":`...)
	b = append(b, response...)
	b = append(b, `,"sign":"`...)
	b = append(b, sign...)
	b = append(b, '"')
	if s.CertSN != "" {
		b = append(b, `,"alipay_cert_sn":"`...)
		b = append(b, s.CertSN...) // lower hex, nothing to escape
		b = append(b, '"')
	}
	b = append(b, '}')
	return b, nil
}

// VerifyQueryRequest checks an incoming gateway request as Alipay would,
// for the simulated query API: strict form parsing, sign_type RSA2, and the
// app's signature over the sorted non-empty parameters except sign. It
// returns the parameters (sign included) as UTF-8 strings; biz_content is
// left as its JSON text. Errors are *reason.Error (malformed or
// bad_signature).
func VerifyQueryRequest(form []byte, appPublicKey *rsa.PublicKey) (map[string]string, error) {
	if appPublicKey == nil {
		return nil, reason.New(reason.UnknownKey, "no app public key")
	}
	f, err := ParseForm(form)
	if err != nil {
		return nil, err
	}
	params := make(map[string]string, f.Len())
	for i := range f.Len() {
		k, v := f.At(i)
		params[k] = v
	}
	if params["sign_type"] != SignTypeRSA2 {
		return nil, reason.New(reason.BadSignature, "sign_type must be RSA2")
	}
	sig, err := base64.StdEncoding.DecodeString(params["sign"])
	if err != nil || len(sig) == 0 {
		return nil, reason.New(reason.BadSignature, "sign missing or not base64")
	}
	if verifyPKCS1(appPublicKey, crypto.SHA256, requestSignContent(params), sig) != nil {
		return nil, reason.New(reason.BadSignature, "request signature does not verify")
	}
	return params, nil
}

// SampleSellerID is the seller_id SampleNotifyParams puts in notifications.
const SampleSellerID = "2088000000000001"

// SampleNotifyParams returns the fields of a realistic TRADE_SUCCESS async
// notification (before sign_type and sign, which SignNotify adds) for an
// order of amount yuan ("12.34"), sent at now. notify_id and trade_no are
// fresh random numbers in Alipay's shapes; a retry of the same
// notification must reuse the returned map.
func SampleNotifyParams(appID, outTradeNo, amount string, now time.Time) map[string]string {
	bj := now.In(beijing)
	day := bj.Format("20060102")
	fmtT := func(t time.Time) string { return t.In(beijing).Format(timeLayout) }
	return map[string]string{
		"app_id":           appID,
		"auth_app_id":      appID,
		"buyer_id":         "2088" + randDigits(12),
		"buyer_logon_id":   "buy***@example.com",
		"buyer_pay_amount": amount,
		"charset":          "utf-8",
		"fund_bill_list":   `[{"amount":"` + amount + `","fundChannel":"ALIPAYACCOUNT"}]`,
		"gmt_create":       fmtT(now.Add(-5 * time.Second)),
		"gmt_payment":      fmtT(now.Add(-2 * time.Second)),
		"invoice_amount":   amount,
		"notify_id":        day + "00222" + randDigits(21),
		"notify_time":      fmtT(now),
		"notify_type":      "trade_status_sync",
		"out_trade_no":     outTradeNo,
		"point_amount":     "0.00",
		"receipt_amount":   amount,
		"seller_email":     "shop@example.com",
		"seller_id":        SampleSellerID,
		"subject":          "payguard test order",
		"total_amount":     amount,
		"trade_no":         day + "22001" + randDigits(15),
		"trade_status":     "TRADE_SUCCESS",
		"version":          "1.0",
	}
}

func randDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rand.IntN(10))
	}
	return string(b)
}
