package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// AlgorithmAEADAES256GCM is the only resource algorithm WeChat Pay v3 uses.
const AlgorithmAEADAES256GCM = "AEAD_AES_256_GCM"

// gcmNonceSize is the length of resource.nonce: WeChat sends 12 characters,
// the standard GCM nonce. Checked before Open, which panics on any other.
const gcmNonceSize = 12

// jsonField reads m[key] as a string. Absent is ("", false, nil); present
// with another type is an error.
func jsonString(m map[string]any, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", true, fmt.Errorf("%s is not a string", key)
	}
	return s, true, nil
}

// requireString is jsonString for a field that must be present and non-empty.
func requireString(m map[string]any, key string) (string, error) {
	s, _, err := jsonString(m, key)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s missing", key)
	}
	return s, nil
}

// jsonObject reads m[key] as an object; absent is nil without error.
func jsonObject(m map[string]any, key string) (map[string]any, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", key)
	}
	return o, nil
}

// jsonFen reads m[key] as a non-negative integer count of fen. "1.0",
// "1e2", "-1" and strings are refused: v3 amounts are JSON integers.
func jsonFen(m map[string]any, key string) (int64, error) {
	v, ok := m[key]
	if !ok {
		return 0, fmt.Errorf("%s missing", key)
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", key)
	}
	f, ok := parseUint(string(n))
	if !ok {
		return 0, fmt.Errorf("%s is not a non-negative integer", key)
	}
	return f, nil
}

// v3Envelope is the outer, signed but unencrypted, notification.
type v3Envelope struct {
	ID             string
	CreateTime     string
	EventType      string
	Algorithm      string
	Ciphertext     string
	Nonce          string
	AssociatedData string
}

// resourcePath is where the envelope's resource is.
var resourcePath = []string{"resource"}

// parseV3Envelope parses the notification body strictly: one JSON object,
// no duplicate keys at any level, no trailing data, the fields WeChat
// documents with their types. Every failure is malformed.
//
// resource_type ("encrypt-resource") and summary are not checked: nothing
// depends on them, and the algorithm check below is what guards decryption.
// The envelope is read for a few strings and discarded, so no map is
// built for it (strictjson.MembersAt, into room's capacity when it has 32
// members' room; the decrypted resource becomes Raw).
func parseV3Envelope(body []byte, room []strictjson.Member) (v3Envelope, *reason.Error) {
	if cap(room) < 32 {
		room = make([]strictjson.Member, 0, 32)
	}
	// The resource's members are read in the same pass as the body's
	// (MembersAt), into the second half of room.
	ms, res, _, err := strictjson.MembersAt(string(body), resourcePath, room[:0:16], room[16:16])
	if err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "notification body")
	}
	var env v3Envelope
	if env.ID, err = requireMemberString(ms, "id"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "notification")
	}
	if env.EventType, err = requireMemberString(ms, "event_type"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "notification")
	}
	if env.CreateTime, _, err = memberString(ms, "create_time"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "notification")
	}
	raw, ok := strictjson.Find(ms, "resource")
	switch {
	case !ok:
		err = errors.New("resource missing")
	case !strings.HasPrefix(raw, "{"):
		err = errors.New("resource is not an object")
	}
	if err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "notification")
	}
	if env.Algorithm, err = requireMemberString(res, "algorithm"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "resource")
	}
	if env.Ciphertext, err = requireMemberString(res, "ciphertext"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "resource")
	}
	if env.Nonce, err = requireMemberString(res, "nonce"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "resource")
	}
	if env.AssociatedData, _, err = memberString(res, "associated_data"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "resource")
	}
	if _, _, err = memberString(res, "original_type"); err != nil {
		return v3Envelope{}, reason.Wrap(reason.Malformed, err, "resource")
	}
	return env, nil
}

// memberString is jsonString for a member's text.
func memberString(ms []strictjson.Member, key string) (string, bool, error) {
	raw, ok := strictjson.Find(ms, key)
	if !ok {
		return "", false, nil
	}
	s, ok := strictjson.Text(raw)
	if !ok {
		return "", true, fmt.Errorf("%s is not a string", key)
	}
	return s, true, nil
}

// requireMemberString is requireString for a member's text.
func requireMemberString(ms []strictjson.Member, key string) (string, error) {
	s, _, err := memberString(ms, key)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s missing", key)
	}
	return s, nil
}

// decryptResource opens resource.ciphertext with the API v3 key's AEAD.
// A foreign algorithm is bad_signature, like a foreign signature type:
// the algorithm is ours to choose, never the message's. Any decryption
// failure is bad_signature too: GCM's tag is what authenticates the
// payload to the merchant (only WeChat and the merchant know the key).
//
// The ciphertext is decoded into one buffer that also holds the nonce and
// the associated data (the AEAD's arguments escape, so a conversion of
// each would be an allocation of its own), and opened in place.
func decryptResource(aead cipher.AEAD, env *v3Envelope) ([]byte, *reason.Error) {
	if env.Algorithm != AlgorithmAEADAES256GCM {
		return nil, reason.New(reason.BadSignature, "unsupported resource algorithm %s", short(env.Algorithm))
	}
	if len(env.Nonce) != gcmNonceSize {
		return nil, reason.New(reason.BadSignature, "resource nonce is %d bytes, not %d", len(env.Nonce), gcmNonceSize)
	}
	n := base64.StdEncoding.DecodedLen(len(env.Ciphertext))
	buf := make([]byte, n+len(env.Nonce)+len(env.AssociatedData))
	n, err := base64.StdEncoding.Decode(buf[:n], []byte(env.Ciphertext))
	if err != nil {
		return nil, reason.New(reason.BadSignature, "resource ciphertext is not base64")
	}
	rest := buf[n:]
	nonce := rest[:copy(rest, env.Nonce)]
	aad := rest[len(nonce) : len(nonce)+copy(rest[len(nonce):], env.AssociatedData)]
	if aead == nil { // a key AES-GCM refused (DecryptV3Resource)
		return nil, reason.New(reason.BadSignature, "resource does not decrypt (wrong api_v3_key or tampered ciphertext)")
	}
	pt, err := aead.Open(buf[:0], nonce, buf[:n], aad)
	if err != nil {
		return nil, reason.New(reason.BadSignature, "resource does not decrypt (wrong api_v3_key or tampered ciphertext)")
	}
	return pt, nil
}

// newResourceAEAD is WeChat's AEAD_AES_256_GCM under the API v3 key: AES
// in GCM with a 12-byte nonce and a 16-byte tag appended to the
// ciphertext. The AES size follows the key length (CheckAPIv3Key). NewV3
// builds it once: Go's AES-GCM keeps no state between calls and is safe
// for concurrent use (golang/go#41689; TestV3ResourceAEADShared runs it
// from several goroutines under the race detector).
func newResourceAEAD(key []byte) (cipher.AEAD, error) {
	if err := CheckAPIv3Key(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block) // the standard nonce, gcmNonceSize bytes
}

// DecryptV3Resource decrypts a v3 resource (base64 ciphertext with its
// nonce and associated data) with the API v3 key: the SDK's
// utils.DecryptAES256GCM, exposed for tools that hold a captured body. The
// error says nothing about the key.
func DecryptV3Resource(apiV3Key []byte, associatedData, nonce, ciphertext string) ([]byte, error) {
	aead, _ := newResourceAEAD(apiV3Key) // nil for a bad key: decryptResource refuses it in its turn
	pt, rerr := decryptResource(aead, &v3Envelope{
		Algorithm:      AlgorithmAEADAES256GCM,
		Nonce:          nonce,
		Ciphertext:     ciphertext,
		AssociatedData: associatedData,
	})
	if rerr != nil {
		return nil, rerr
	}
	return pt, nil
}

// v3TradeStatus maps trade_state (providers.md section 2). A state not in
// the table is "other": payguard forwards what it cannot classify and
// lets the policies decide, rather than guessing a nearby word.
func v3TradeStatus(s string) notification.Status {
	switch s {
	case "SUCCESS":
		return notification.StatusPaid
	case "REFUND":
		return notification.StatusRefunded
	case "NOTPAY", "USERPAYING":
		return notification.StatusPending
	case "CLOSED", "REVOKED":
		return notification.StatusClosed
	case "PAYERROR":
		return notification.StatusFailed
	}
	return notification.StatusOther
}

// v3RefundStatus maps a refund notice's refund_status.
func v3RefundStatus(s string) notification.Status {
	switch s {
	case "SUCCESS":
		return notification.StatusRefunded
	case "ABNORMAL":
		return notification.StatusFailed
	}
	return notification.StatusOther // CLOSED and anything unknown
}

// parseNotification is everything after the signature: envelope, decryption,
// plaintext, merchant checks, normalization. Split from VerifyNotify so the
// fuzzer reaches it without signing every input.
func (p *V3) parseNotification(body []byte) (*notification.Notification, *reason.Error) {
	n := new(notification.Notification)
	if rerr := p.readNotification(body, n); rerr != nil {
		return nil, rerr
	}
	return n, nil
}

// readNotification is parseNotification into n, which VerifyNotify holds
// in its Verified: one allocation for both.
//
// The envelope's members and then the resource's are read into one
// buffer (Members' room escapes, so each its own would be an allocation):
// the envelope is done with its members once it has its strings.
func (p *V3) readNotification(body []byte, n *notification.Notification) *reason.Error {
	room := make([]strictjson.Member, 0, 32)
	env, rerr := parseV3Envelope(body, room)
	if rerr != nil {
		return rerr
	}
	pt, rerr := decryptResource(p.aead, &env)
	if rerr != nil {
		return rerr
	}
	return p.readResource(&env, pt, n, room)
}

// readResource reads the decrypted resource pt into n: its members are
// read for the fields payguard checks (strictjson.Members: every rule
// DecodeObject checks, with its errors, but no map built), and Raw is
// decoded from the same text only if someone reads it
// (Notification.DeferRaw): the resource's maps were a third of the
// verify beside the signature, and a route that forwards the original
// body without policies never reads them.
//
// Its members are read into room's capacity, the amount's after them.
func (p *V3) readResource(env *v3Envelope, pt []byte, n *notification.Notification, room []strictjson.Member) *reason.Error {
	text := string(pt) // the one copy, which the members and Raw slice
	res, err := strictjson.Members(text, room[:0])
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "decrypted resource")
	}
	*n = notification.Notification{
		Provider: V3Name,
		EventID:  env.ID,
		Type:     env.EventType,
	}
	if rerr := p.checkMerchant(res, n); rerr != nil {
		return rerr
	}
	switch o := v3Object(res); {
	case strings.HasPrefix(env.EventType, "REFUND."):
		err = fillV3Refund(o, n)
	case strings.HasPrefix(env.EventType, "TRANSACTION.") || o.has("trade_state"):
		err = fillV3Transaction(o, n)
	default:
		err = fillV3Other(o, n)
	}
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "decrypted resource")
	}
	if n.OccurredAt.IsZero() && env.CreateTime != "" {
		if t, err := time.Parse(time.RFC3339, env.CreateTime); err == nil {
			n.OccurredAt = t.UTC()
		}
	}
	n.DeferRaw(func() map[string]any {
		// Members accepted text, so DecodeObjectString does
		// (FuzzMembersMatchesDecodeObject): it cannot fail here.
		m, _ := strictjson.DecodeObjectString(text)
		return m
	})
	return nil
}

// v3Object is an object of the decrypted resource as its members, read
// as jsonString, jsonObject and jsonFen read a decoded map, with the same
// errors.
type v3Object []strictjson.Member

func (o v3Object) str(key string) (string, bool, error) { return memberString(o, key) }

func (o v3Object) require(key string) (string, error) { return requireMemberString(o, key) }

func (o v3Object) has(key string) bool {
	_, ok := strictjson.Find(o, key)
	return ok
}

// object reads o[key] as an object into dst's room; absent is
// (nil, false, nil).
func (o v3Object) object(key string, dst []strictjson.Member) (v3Object, bool, error) {
	raw, ok := strictjson.Find(o, key)
	if !ok {
		return nil, false, nil
	}
	if !strings.HasPrefix(raw, "{") {
		return nil, true, fmt.Errorf("%s is not an object", key)
	}
	// Read with the resource already, by the same rules: no error here.
	ms, err := strictjson.Members(raw, dst)
	return ms, true, err
}

// fen reads o[key] as a non-negative integer count of fen; see jsonFen.
func (o v3Object) fen(key string) (int64, error) {
	raw, ok := strictjson.Find(o, key)
	if !ok {
		return 0, fmt.Errorf("%s missing", key)
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') { // a JSON number's text starts so
		return 0, fmt.Errorf("%s is not a number", key)
	}
	f, ok := parseUint(raw)
	if !ok {
		return 0, fmt.Errorf("%s is not a non-negative integer", key)
	}
	return f, nil
}

// time reads an RFC 3339 time ("2018-06-08T10:34:56+08:00"); absent or
// empty is the zero time.
func (o v3Object) time(key string) (time.Time, error) {
	s, _, err := o.str(key)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", key)
	}
	return t.UTC(), nil
}

// amount reads the resource's amount object, which must be present, into
// the room after o's members.
func (o v3Object) amount() (v3Object, error) {
	amount, present, err := o.object("amount", o[len(o):])
	if err == nil && !present {
		err = errors.New("amount missing")
	}
	return amount, err
}

// checkMerchant holds the decrypted mchid (and appid, when configured and
// present) to the configuration. A mismatch is bad_signature: the message
// is genuine WeChat but not addressed to this merchant, so it must not be
// believed here. Only direct-merchant messages (mchid) are accepted;
// service-provider mode (sp_mchid/sub_mchid) is out of scope.
func (p *V3) checkMerchant(res v3Object, n *notification.Notification) *reason.Error {
	mchid, _, err := res.str("mchid")
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "decrypted resource")
	}
	if mchid != p.mchID {
		return reason.New(reason.BadSignature, "mchid mismatch")
	}
	n.Merchant = mchid
	appid, present, err := res.str("appid")
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "decrypted resource")
	}
	// Refund notices carry no appid; when one is present it must match.
	if p.appID != "" && present && appid != p.appID {
		return reason.New(reason.BadSignature, "appid mismatch")
	}
	return nil
}

// fillV3Transaction reads a Transaction (TRANSACTION.* events).
func fillV3Transaction(res v3Object, n *notification.Notification) error {
	var err error
	if n.OutTradeNo, err = res.require("out_trade_no"); err != nil {
		return err
	}
	if n.TransactionID, _, err = res.str("transaction_id"); err != nil {
		return err
	}
	state, err := res.require("trade_state")
	if err != nil {
		return err
	}
	n.Status = v3TradeStatus(state)
	if n.Status == notification.StatusPaid && n.TransactionID == "" {
		return errors.New("transaction_id missing")
	}
	amount, err := res.amount()
	if err != nil {
		return err
	}
	if n.Amount, err = amount.fen("total"); err != nil {
		return fmt.Errorf("amount.%v", err)
	}
	if n.Currency, err = v3ObjectCurrency(amount); err != nil {
		return err
	}
	n.OccurredAt, err = res.time("success_time")
	return err
}

// fillV3Refund reads a refund notice (REFUND.SUCCESS|ABNORMAL|CLOSED).
// Amount is amount.total, the payment's (as on every notification);
// RefundAmount is amount.refund, what this refund moved; RefundID is
// out_refund_no, the merchant's number of this refund. The event id stays
// the envelope id, which WeChat keeps stable across retries of one refund
// notice.
func fillV3Refund(res v3Object, n *notification.Notification) error {
	var err error
	if n.OutTradeNo, err = res.require("out_trade_no"); err != nil {
		return err
	}
	if n.TransactionID, _, err = res.str("transaction_id"); err != nil {
		return err
	}
	if n.RefundID, err = res.require("out_refund_no"); err != nil {
		return err
	}
	if _, _, err = res.str("refund_id"); err != nil {
		return err
	}
	st, err := res.require("refund_status")
	if err != nil {
		return err
	}
	n.Status = v3RefundStatus(st)
	amount, err := res.amount()
	if err != nil {
		return err
	}
	if n.Amount, err = amount.fen("total"); err != nil {
		return fmt.Errorf("amount.%v", err)
	}
	if n.RefundAmount, err = amount.fen("refund"); err != nil {
		return fmt.Errorf("amount.%v", err)
	}
	if n.RefundAmount > n.Amount {
		return errors.New("amount.refund exceeds amount.total")
	}
	if n.Currency, err = v3ObjectCurrency(amount); err != nil {
		return err
	}
	n.OccurredAt, err = res.time("success_time")
	return err
}

// fillV3Other keeps an event that is neither a payment nor a refund (the
// SDK's own vector is a PAYSCORE contract event): verified and decrypted,
// status "other", no amount. Rejecting it would make WeChat retry for a
// day and the shop never see it; the pipeline and policies decide.
func fillV3Other(res v3Object, n *notification.Notification) error {
	var err error
	if n.OutTradeNo, _, err = res.str("out_trade_no"); err != nil {
		return err
	}
	if n.TransactionID, _, err = res.str("transaction_id"); err != nil {
		return err
	}
	n.Status = notification.StatusOther
	return nil
}

// v3ObjectCurrency is v3Currency for the resource's amount members.
func v3ObjectCurrency(amount v3Object) (string, error) {
	return currencyOrCNY(amount.str("currency"))
}

// v3Currency reads amount.currency; absent means CNY, the only currency of
// domestic v3 payments (and the default v2 documents for fee_type).
func v3Currency(amount map[string]any) (string, error) {
	return currencyOrCNY(jsonString(amount, "currency"))
}

// currencyOrCNY judges amount.currency as read: absent is CNY, empty is
// an error.
func currencyOrCNY(c string, present bool, err error) (string, error) {
	switch {
	case err != nil:
		return "", fmt.Errorf("amount.%v", err)
	case !present:
		return "CNY", nil
	case c == "":
		return "", errors.New("amount.currency empty")
	}
	return c, nil
}
