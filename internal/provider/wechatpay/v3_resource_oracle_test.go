package wechatpay

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// readResourceOracle and the functions it calls are readResource as it
// was before it read the decrypted resource's members instead of decoding
// it into maps (and built Raw eagerly): the oracle
// FuzzV3ResourceMatchesOracle holds it to.
func (p *V3) readResourceOracle(env *v3Envelope, pt []byte, n *notification.Notification) *reason.Error {
	res, err := strictjson.DecodeObject(pt)
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "decrypted resource")
	}
	*n = notification.Notification{
		Provider: V3Name,
		EventID:  env.ID,
		Type:     env.EventType,
		Raw:      res,
	}
	if rerr := p.checkMerchantOracle(res, n); rerr != nil {
		return rerr
	}
	switch _, hasState := res["trade_state"]; {
	case strings.HasPrefix(env.EventType, "REFUND."):
		err = fillV3RefundOracle(res, n)
	case strings.HasPrefix(env.EventType, "TRANSACTION.") || hasState:
		err = fillV3TransactionOracle(res, n)
	default:
		err = fillV3OtherOracle(res, n)
	}
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "decrypted resource")
	}
	if n.OccurredAt.IsZero() && env.CreateTime != "" {
		if t, err := time.Parse(time.RFC3339, env.CreateTime); err == nil {
			n.OccurredAt = t.UTC()
		}
	}
	return nil
}

// jsonTime reads an RFC 3339 time ("2018-06-08T10:34:56+08:00"); absent or
// empty is the zero time.
func jsonTimeOracle(m map[string]any, key string) (time.Time, error) {
	s, _, err := jsonString(m, key)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", key)
	}
	return t.UTC(), nil
}

// checkMerchant holds the decrypted mchid (and appid, when configured and
// present) to the configuration. A mismatch is bad_signature: the message
// is genuine WeChat but not addressed to this merchant, so it must not be
// believed here. Only direct-merchant messages (mchid) are accepted;
// service-provider mode (sp_mchid/sub_mchid) is out of scope.
func (p *V3) checkMerchantOracle(res map[string]any, n *notification.Notification) *reason.Error {
	mchid, _, err := jsonString(res, "mchid")
	if err != nil {
		return reason.Wrap(reason.Malformed, err, "decrypted resource")
	}
	if mchid != p.mchID {
		return reason.New(reason.BadSignature, "mchid mismatch")
	}
	n.Merchant = mchid
	appid, present, err := jsonString(res, "appid")
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
func fillV3TransactionOracle(res map[string]any, n *notification.Notification) error {
	var err error
	if n.OutTradeNo, err = requireString(res, "out_trade_no"); err != nil {
		return err
	}
	if n.TransactionID, _, err = jsonString(res, "transaction_id"); err != nil {
		return err
	}
	state, err := requireString(res, "trade_state")
	if err != nil {
		return err
	}
	n.Status = v3TradeStatus(state)
	if n.Status == notification.StatusPaid && n.TransactionID == "" {
		return errors.New("transaction_id missing")
	}
	amount, err := jsonObject(res, "amount")
	if err == nil && amount == nil {
		err = errors.New("amount missing")
	}
	if err != nil {
		return err
	}
	if n.Amount, err = jsonFen(amount, "total"); err != nil {
		return fmt.Errorf("amount.%v", err)
	}
	if n.Currency, err = v3Currency(amount); err != nil {
		return err
	}
	n.OccurredAt, err = jsonTimeOracle(res, "success_time")
	return err
}

// fillV3Refund reads a refund notice (REFUND.SUCCESS|ABNORMAL|CLOSED).
// Amount is amount.total, the payment's (as on every notification);
// RefundAmount is amount.refund, what this refund moved; RefundID is
// out_refund_no, the merchant's number of this refund. The event id stays
// the envelope id, which WeChat keeps stable across retries of one refund
// notice.
func fillV3RefundOracle(res map[string]any, n *notification.Notification) error {
	var err error
	if n.OutTradeNo, err = requireString(res, "out_trade_no"); err != nil {
		return err
	}
	if n.TransactionID, _, err = jsonString(res, "transaction_id"); err != nil {
		return err
	}
	if n.RefundID, err = requireString(res, "out_refund_no"); err != nil {
		return err
	}
	if _, _, err = jsonString(res, "refund_id"); err != nil {
		return err
	}
	st, err := requireString(res, "refund_status")
	if err != nil {
		return err
	}
	n.Status = v3RefundStatus(st)
	amount, err := jsonObject(res, "amount")
	if err == nil && amount == nil {
		err = errors.New("amount missing")
	}
	if err != nil {
		return err
	}
	if n.Amount, err = jsonFen(amount, "total"); err != nil {
		return fmt.Errorf("amount.%v", err)
	}
	if n.RefundAmount, err = jsonFen(amount, "refund"); err != nil {
		return fmt.Errorf("amount.%v", err)
	}
	if n.RefundAmount > n.Amount {
		return errors.New("amount.refund exceeds amount.total")
	}
	if n.Currency, err = v3Currency(amount); err != nil {
		return err
	}
	n.OccurredAt, err = jsonTimeOracle(res, "success_time")
	return err
}

// fillV3Other keeps an event that is neither a payment nor a refund (the
// SDK's own vector is a PAYSCORE contract event): verified and decrypted,
// status "other", no amount. Rejecting it would make WeChat retry for a
// day and the shop never see it; the pipeline and policies decide.
func fillV3OtherOracle(res map[string]any, n *notification.Notification) error {
	var err error
	if n.OutTradeNo, _, err = jsonString(res, "out_trade_no"); err != nil {
		return err
	}
	if n.TransactionID, _, err = jsonString(res, "transaction_id"); err != nil {
		return err
	}
	n.Status = notification.StatusOther
	return nil
}

// FuzzV3ResourceMatchesOracle: on any decrypted resource (which fuzzed
// bodies could not reach behind a GCM tag), readResource refuses what the
// former reader refused, with the same code and detail, and otherwise
// fills the same notification, its deferred Raw the map the former one
// decoded.
func FuzzV3ResourceMatchesOracle(f *testing.F) {
	p := newV3Fixture(f).p
	tx, rf := sampleTransaction(), sampleRefund()
	for _, c := range []struct {
		v         any
		eventType string
	}{{tx, "TRANSACTION.SUCCESS"}, {rf, "REFUND.SUCCESS"}, {rf, "REFUND.ABNORMAL"}, {tx, "X"}} {
		b, _ := json.Marshal(c.v)
		f.Add(b, c.eventType, "2026-01-02T03:04:05+08:00")
	}
	for _, s := range []string{
		`{"mchid":"` + testMchID + `","x":[1,{"y":null}]}`,
		`{"mchid":"` + testMchID + `","amount":{"total":1e3}}`,
		`{"mchid":"` + testMchID + `","trade_state":"SUCCESS","out_trade_no":"1","transaction_id":"t","amount":{}}`,
		`{"mchid":"` + testMchID + `","trade_state":"SUCCESS","out_trade_no":"1","transaction_id":"t","amount":{"total":-1,"currency":""}}`,
		`{"mchid":"` + testMchID + `","trade_state":"NOTPAY","out_trade_no":"1","amount":{"total":"1"},"success_time":"x"}`,
		`{"mchid":"` + testMchID + `","out_trade_no":"1","out_refund_no":"r","refund_status":"SUCCESS","amount":{"total":1,"refund":2}}`,
		`{"mchid":"` + testMchID + `","appid":7}`, `{"mchid":1}`, `{"mchid":"` + testMchID + `","amount":{"a":1,"a":2}}`, `[]`, `{"a":1} x`,
	} {
		f.Add([]byte(s), "TRANSACTION.SUCCESS", "")
	}
	f.Fuzz(func(t *testing.T, pt []byte, eventType, createTime string) {
		env := &v3Envelope{ID: "EV-1", EventType: eventType, CreateTime: createTime}
		var got, want notification.Notification
		gotErr := p.readResource(env, pt, &got, nil)
		wantErr := p.readResourceOracle(env, pt, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, oracle %v", pt, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Code != wantErr.Code || gotErr.Error() != wantErr.Error() {
				t.Fatalf("%q: error %v, oracle %v", pt, gotErr, wantErr)
			}
			return
		}
		if got.Raw != nil {
			t.Fatalf("%q: Raw built eagerly", pt)
		}
		got.Fields() // the deferred Raw, decoded as the oracle decodes it eagerly
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, oracle %+v", pt, got, want)
		}
	})
}
