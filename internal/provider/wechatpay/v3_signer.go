package wechatpay

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// V3Signer signs like WeChat Pay's servers do, for the simulator and for
// tests: notifications with an encrypted resource, and query answers. It
// holds a platform key (or public-key-mode key) and its serial (a
// certificate serial in upper hex, or a PUB_KEY_ID_...), and the merchant's
// API v3 key.
type V3Signer struct {
	PlatformKey *rsa.PrivateKey
	Serial      string
	APIv3Key    []byte
}

// SignNotify builds a notification as WeChat sends it: the resource is
// JSON-encoded (a []byte or json.RawMessage is taken as the exact
// plaintext), encrypted with AEAD_AES_256_GCM under the API v3 key, put in
// the envelope with eventID and eventType (e.g. "TRANSACTION.SUCCESS",
// "REFUND.SUCCESS"), and the body signed with the current time now. It
// returns the request headers (Wechatpay-*, Content-Type) and the body.
func (s *V3Signer) SignNotify(eventType string, resource any, eventID string, now time.Time) (http.Header, []byte, error) {
	var pt []byte
	switch r := resource.(type) {
	case []byte:
		pt = r
	case json.RawMessage:
		pt = r
	default:
		var err error
		if pt, err = json.Marshal(resource); err != nil {
			return nil, nil, fmt.Errorf("encoding resource: %w", err)
		}
	}
	originalType := "transaction"
	if kind, _, ok := strings.Cut(eventType, "."); ok && kind != "TRANSACTION" {
		originalType = strings.ToLower(kind)
	}
	res, err := s.EncryptResource(pt, originalType)
	if err != nil {
		return nil, nil, err
	}
	summary := "支付成功"
	if strings.HasPrefix(eventType, "REFUND.") {
		summary = "退款状态变更"
	}
	body, err := json.Marshal(struct {
		ID           string     `json:"id"`
		CreateTime   string     `json:"create_time"`
		ResourceType string     `json:"resource_type"`
		EventType    string     `json:"event_type"`
		Summary      string     `json:"summary"`
		Resource     V3Resource `json:"resource"`
	}{eventID, now.In(beijing).Format(time.RFC3339), "encrypt-resource", eventType, summary, *res})
	if err != nil {
		return nil, nil, err
	}
	h, err := s.SignResponse(body, now)
	if err != nil {
		return nil, nil, err
	}
	h.Set("Content-Type", "application/json")
	return h, body, nil
}

// V3Resource is the encrypted resource of a v3 notification.
type V3Resource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// EncryptResource encrypts plaintext as WeChat does: AES-GCM under the API
// v3 key, a fresh 12-character nonce, originalType as associated data.
func (s *V3Signer) EncryptResource(plaintext []byte, originalType string) (*V3Resource, error) {
	block, err := aes.NewCipher(s.APIv3Key)
	if err != nil {
		return nil, errors.New("api v3 key must be 16, 24 or 32 bytes")
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := randomNonce(gcmNonceSize)
	ct := gcm.Seal(nil, []byte(nonce), plaintext, []byte(originalType))
	return &V3Resource{
		OriginalType:   originalType,
		Algorithm:      AlgorithmAEADAES256GCM,
		Ciphertext:     base64.StdEncoding.EncodeToString(ct),
		AssociatedData: originalType,
		Nonce:          nonce,
	}, nil
}

// SignResponse signs body (a query answer, or any body the simulator wants
// to send, tampered or not) and returns the Wechatpay-* headers, with
// Wechatpay-Timestamp = now and a fresh nonce.
func (s *V3Signer) SignResponse(body []byte, now time.Time) (http.Header, error) {
	if s.PlatformKey == nil {
		return nil, errors.New("V3Signer: no platform key")
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := randomNonce(32)
	sig, err := signV3Message(s.PlatformKey, ts+"\n"+nonce+"\n", body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSerial, s.Serial)
	h.Set(HeaderSignature, sig)
	h.Set(HeaderSignatureType, SignatureTypeRSA)
	h.Set("Request-Id", "sim-"+randomNonce(16))
	return h, nil
}

// V3Authorization is a parsed WECHATPAY2-SHA256-RSA2048 Authorization header.
type V3Authorization struct {
	MchID     string
	NonceStr  string
	Timestamp string
	SerialNo  string
	Signature string
}

// ParseV3Authorization parses an Authorization header value without
// verifying it, so a simulator can pick the merchant key by mchid or
// serial_no first. Repeated or missing parameters are errors.
func ParseV3Authorization(v string) (V3Authorization, error) {
	var a V3Authorization
	rest, ok := strings.CutPrefix(v, SignatureTypeRSA+" ")
	if !ok {
		return a, errors.New("authorization scheme is not " + SignatureTypeRSA)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
			return a, errors.New("authorization parameter is not key=\"value\"")
		}
		if seen[k] {
			return a, fmt.Errorf("authorization parameter %s repeated", short(k))
		}
		seen[k] = true
		val = val[1 : len(val)-1]
		switch k {
		case "mchid":
			a.MchID = val
		case "nonce_str":
			a.NonceStr = val
		case "timestamp":
			a.Timestamp = val
		case "serial_no":
			a.SerialNo = val
		case "signature":
			a.Signature = val
		default:
			return a, fmt.Errorf("unknown authorization parameter %s", short(k))
		}
	}
	if a.MchID == "" || a.NonceStr == "" || a.Timestamp == "" || a.SerialNo == "" || a.Signature == "" {
		return a, errors.New("authorization lacks mchid, nonce_str, timestamp, serial_no or signature")
	}
	return a, nil
}

// VerifyQueryAuthorization checks, on the simulator's side, that req was
// signed by the merchant key whose public half is merchantPub: the
// signature over METHOD\nrequest-URI\ntimestamp\nnonce\nbody\n. The body is
// read and put back. Freshness of the timestamp is the caller's to judge
// (ParseV3Authorization gives it).
func VerifyQueryAuthorization(req *http.Request, merchantPub *rsa.PublicKey) error {
	if req == nil || merchantPub == nil {
		return errors.New("no request or key")
	}
	a, err := ParseV3Authorization(req.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	var body []byte
	if req.Body != nil {
		if body, err = io.ReadAll(req.Body); err != nil {
			return fmt.Errorf("reading request body: %w", err)
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	uri := req.RequestURI // as received, on a server
	if uri == "" {
		uri = req.URL.RequestURI()
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil {
		return errors.New("authorization signature is not base64")
	}
	h := sha256.New()
	h.Write([]byte(req.Method + "\n" + uri + "\n" + a.Timestamp + "\n" + a.NonceStr + "\n"))
	h.Write(body)
	h.Write([]byte{'\n'})
	if err := rsa.VerifyPKCS1v15(merchantPub, crypto.SHA256, h.Sum(nil), sig); err != nil {
		return errors.New("authorization signature does not verify")
	}
	return nil
}
