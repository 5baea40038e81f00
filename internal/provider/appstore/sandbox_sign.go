package appstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/sandbox"
)

// BuildNotify implements provider.Sandbox: the notification Apple would
// POST for o, signed at now, with tamper applied.
func (s *appStoreSandbox) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(Name, sandboxSpec.Tamperable, tamper); err != nil {
		return nil, err
	}
	if err := s.Prepare(o, now); err != nil {
		return nil, err
	}
	bundle, env := o.AppID, s.environment
	switch tamper {
	case "bundleId":
		bundle = sandboxOtherApp
	case "environment":
		env = EnvProduction
		if s.environment == EnvProduction {
			env = EnvSandbox
		}
	}
	signer := s.signer
	if tamper == "x5c_leaf" {
		leaf, key, err := forgedLeaf(now)
		if err != nil {
			return nil, err
		}
		signer = appleSigner{key: key, x5c: x5cOf(leaf, s.inter, s.root)}
	}
	txn := s.transaction(o, bundle, env, o.Amount, o.Status, now)
	txnJWS, err := signer.sign(txn)
	if err != nil {
		return nil, err
	}
	if tamper == "nested_signature" {
		txnJWS = flipSignature(txnJWS)
	}
	payload := s.notificationPayload(o, bundle, env, txnJWS, now)
	var outer string
	if tamper == "alg_none" {
		outer, err = unsignedJWS(map[string]any{"alg": "none", "x5c": signer.x5c}, payload)
	} else {
		outer, err = signer.sign(payload)
	}
	if err != nil {
		return nil, err
	}
	switch tamper {
	case "signature":
		outer = flipSignature(outer)
	case "price":
		// The buyer's price, raised after Apple signed both JWS.
		txn["price"] = txn["price"].(int64) + 10_000
		if outer, err = swapNestedPayload(outer, payload, txnJWS, txn); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(map[string]string{"signedPayload": outer})
	if err != nil {
		return nil, err
	}
	return &sandbox.Message{
		Method: http.MethodPost,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
	}, nil
}

// transaction is the JWSTransactionDecodedPayload Apple signs for o.
func (s *appStoreSandbox) transaction(o *sandbox.Order, bundle, env string, amount int64, status string, now time.Time) map[string]any {
	price, _ := minorToMilli(amount, o.Currency) // Prepare checked it converts
	purchased := o.PaidAt
	if purchased.IsZero() {
		purchased = now
	}
	m := map[string]any{
		"transactionId":         o.TransactionID,
		"originalTransactionId": o.TransactionID,
		"bundleId":              bundle,
		"productId":             sandboxProductID,
		"purchaseDate":          purchased.UnixMilli(),
		"originalPurchaseDate":  purchased.UnixMilli(),
		"quantity":              1,
		"type":                  "Consumable",
		"appAccountToken":       o.OutTradeNo,
		"inAppOwnershipType":    "PURCHASED",
		"signedDate":            now.UnixMilli(),
		"environment":           env,
		"transactionReason":     "PURCHASE",
		"storefront":            "USA",
		"storefrontId":          "143441",
		"price":                 price,
		"currency":              o.Currency,
	}
	if status == "REFUND" || status == "REVOKE" {
		m["revocationDate"] = now.Add(-time.Second).UnixMilli()
		m["revocationReason"] = 0
	}
	return m
}

// notificationPayload is the ResponseBodyV2DecodedPayload around a
// signed transaction.
func (s *appStoreSandbox) notificationPayload(o *sandbox.Order, bundle, env, txnJWS string, now time.Time) map[string]any {
	return map[string]any{
		"notificationType": o.Status,
		"notificationUUID": o.EventID,
		"version":          "2.0",
		"signedDate":       now.UnixMilli(),
		"data": map[string]any{
			"appAppleId":            sandboxAppleID,
			"bundleId":              bundle,
			"bundleVersion":         "1",
			"environment":           env,
			"signedTransactionInfo": txnJWS,
		},
	}
}

// swapNestedPayload replaces the nested transaction's payload with txn
// and the outer payload accordingly, keeping both original signatures.
func swapNestedPayload(outer string, payload map[string]any, txnJWS string, txn map[string]any) (string, error) {
	t, err := json.Marshal(txn)
	if err != nil {
		return "", err
	}
	payload["data"].(map[string]any)["signedTransactionInfo"] = swapPayload(txnJWS, t)
	p, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	return swapPayload(outer, p), nil
}

// swapPayload puts payload into a compact JWS, keeping its header and
// signature.
func swapPayload(jws string, payload []byte) string {
	parts := strings.SplitN(jws, ".", 3)
	if len(parts) != 3 {
		return jws
	}
	return parts[0] + "." + b64url.EncodeToString(payload) + "." + parts[2]
}

// flipSignature flips one bit of a compact JWS's signature.
func flipSignature(jws string) string {
	i := strings.LastIndexByte(jws, '.')
	sig, err := b64url.DecodeString(jws[i+1:])
	if i < 0 || err != nil || len(sig) == 0 {
		return jws + "x"
	}
	sig[0] ^= 0x01
	return jws[:i+1] + b64url.EncodeToString(sig)
}

// unsignedJWS is an alg-none JWS: header and payload, empty signature.
func unsignedJWS(header map[string]any, payload any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	return b64url.EncodeToString(h) + "." + b64url.EncodeToString(p) + ".", nil
}

// checkBearer checks the App Store Server API token the way Apple does:
// ES256 by the sandbox's App Store Connect key, its kid, issuer, audience
// and bundle, issued now and for at most an hour.
func (s *appStoreSandbox) checkBearer(auth string, now time.Time) error {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return errors.New("no bearer token")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("token is not a compact JWS")
	}
	hb, err1 := b64url.DecodeString(parts[0])
	cb, err2 := b64url.DecodeString(parts[1])
	sig, err3 := b64url.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return errors.New("token is not base64url")
	}
	var h struct{ Alg, Kid, Typ string }
	var c tokenClaims
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return errors.New("token is not JSON")
	}
	if h.Alg != algES256 || h.Kid != SandboxKeyID || h.Typ != "JWT" {
		return fmt.Errorf("token header alg %q kid %q typ %q", sandbox.Clip(h.Alg), sandbox.Clip(h.Kid), sandbox.Clip(h.Typ))
	}
	if !verifyES256(s.apiKey, parts[0]+"."+parts[1], sig) {
		return errors.New("token signature does not verify with the App Store Connect key")
	}
	if c.Iss != SandboxIssuerID || c.Aud != tokenAudience || c.Bid != SandboxBundleID {
		return errors.New("token iss, aud or bid is not the sandbox app's")
	}
	iat, exp := time.Unix(c.Iat, 0), time.Unix(c.Exp, 0)
	if iat.After(now.Add(time.Minute)) || !exp.After(now) || exp.Sub(iat) > time.Hour {
		return errors.New("token is not valid now, or for longer than an hour")
	}
	return nil
}
