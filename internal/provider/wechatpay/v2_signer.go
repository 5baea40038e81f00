package wechatpay

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
)

// V2Signer signs like WeChat Pay v2 does, for the simulator and tests:
// payment notices, refund notices (encrypted req_info) and orderquery
// answers, and it checks incoming orderquery requests. SignType is MD5
// (also when empty or unrecognised) or HMAC-SHA256.
type V2Signer struct {
	APIKey   []byte
	SignType string
}

func (s *V2Signer) signType() string {
	if strings.ToUpper(s.SignType) == SignTypeHMACSHA256 {
		return SignTypeHMACSHA256
	}
	return SignTypeMD5
}

// Sign returns the sign of fields (upper-case hex): the non-empty fields
// except sign, sorted, joined, with &key=<API key>, hashed with SignType.
func (s *V2Signer) Sign(fields map[string]string) string {
	return v2Sign(fields, s.APIKey, s.signType())
}

// SignNotify returns a payment notice: fields (a copy) with their sign,
// as <xml>. fields are taken as given: sign_type is neither added nor
// removed, so a simulator can send either form (and tamper afterwards).
func (s *V2Signer) SignNotify(fields map[string]string) []byte {
	f := make(map[string]string, len(fields)+1)
	for k, v := range fields {
		f[k] = v
	}
	f["sign"] = s.Sign(f)
	return renderXML("xml", f)
}

// SignResponse returns a signed orderquery answer; the signing is the same
// as a notice's.
func (s *V2Signer) SignResponse(fields map[string]string) []byte {
	return s.SignNotify(fields)
}

// SignRefundNotify returns a refund notice: outer (return_code, appid,
// mch_id, nonce_str, ...) plus req_info, the encryption of info as a
// <root> document. Like WeChat's, it carries no sign.
func (s *V2Signer) SignRefundNotify(outer, info map[string]string) []byte {
	f := make(map[string]string, len(outer)+1)
	for k, v := range outer {
		f[k] = v
	}
	delete(f, "sign")
	f["req_info"] = s.EncryptReqInfo(info)
	return renderXML("xml", f)
}

// EncryptReqInfo encrypts info as WeChat encrypts a refund notice's
// req_info: <root> XML, PKCS#7, AES-256-ECB keyed with the lower-hex MD5 of
// the API key, base64.
func (s *V2Signer) EncryptReqInfo(info map[string]string) string {
	sum := md5.Sum(s.APIKey)
	return encryptReqInfo([]byte(hex.EncodeToString(sum[:])), renderXML("root", info))
}

// VerifyRequest checks an incoming orderquery body on the simulator's side
// and returns its fields: strict XML, sign_type (if present) equal to
// SignType, sign valid.
func (s *V2Signer) VerifyRequest(body []byte) (map[string]string, error) {
	f, err := ParseXML(body)
	if err != nil {
		return nil, err
	}
	if rerr := checkV2Sign(f, s.APIKey, s.signType()); rerr != nil {
		return nil, errors.New(rerr.Detail)
	}
	return f, nil
}
