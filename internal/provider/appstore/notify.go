package appstore

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/reason"
)

// statusFor maps notificationType onto the contract's status words
// (providers.md section 5). The subtype refines none of them: every
// SUBSCRIBED or DID_RENEW subtype is a charge, every EXPIRED subtype an end.
func statusFor(notificationType string) notification.Status {
	switch notificationType {
	case "ONE_TIME_CHARGE", "SUBSCRIBED", "DID_RENEW", "OFFER_REDEEMED", "REFUND_REVERSED":
		return notification.StatusPaid
	case "REFUND":
		return notification.StatusRefunded
	case "REVOKE", "EXPIRED", "GRACE_PERIOD_EXPIRED":
		return notification.StatusClosed
	case "DID_FAIL_TO_RENEW":
		return notification.StatusFailed
	}
	return notification.StatusOther
}

// notification reads a verified, identity-checked payload, verifying the
// nested signed objects on the way.
func (p *Provider) notification(payload map[string]any, now time.Time) (*notification.Notification, error) {
	bad := func(err error) error { return reason.Wrap(reason.Malformed, err, "payload") }
	uuid, _, err := stringField(payload, "notificationUUID")
	if err != nil {
		return nil, bad(err)
	}
	if err := checkID("notificationUUID", uuid); err != nil {
		return nil, bad(err)
	}
	typ, _, err := stringField(payload, "notificationType")
	if err != nil {
		return nil, bad(err)
	}
	if typ == "" {
		return nil, bad(errors.New("notificationType is missing"))
	}
	// The subtype refines no status; it stays in raw for policies.
	if _, _, err := stringField(payload, "subtype"); err != nil {
		return nil, bad(err)
	}
	signedMs, ok, err := intField(payload, "signedDate")
	if err != nil {
		return nil, bad(err)
	}
	if !ok {
		return nil, bad(errors.New("signedDate is missing"))
	}
	n := &notification.Notification{
		Provider:   Name,
		EventID:    uuid,
		Type:       typ,
		Status:     statusFor(typ),
		OccurredAt: time.UnixMilli(signedMs).UTC(),
		Merchant:   p.v.bundleID,
		Raw:        payload,
	}
	txn, err := p.nested(payload, now)
	if err != nil {
		return nil, err
	}
	if txn == nil {
		if n.Status == notification.StatusPaid || n.Status == notification.StatusRefunded {
			return nil, bad(fmt.Errorf("%s notification carries no signedTransactionInfo", clip(typ)))
		}
		return n, nil
	}
	if err := txn.fill(n); err != nil {
		return nil, bad(err)
	}
	return n, nil
}

// nested verifies data.signedTransactionInfo and data.signedRenewalInfo
// and puts their decoded payloads into data as transactionInfo and
// renewalInfo, the signed strings removed (raw holds decoded provider
// fields, no signatures). It returns the transaction, nil when there is
// none (TEST, summary and external-purchase notifications).
func (p *Provider) nested(payload map[string]any, now time.Time) (*transaction, error) {
	data, ok, err := objectField(payload, "data")
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "payload")
	}
	if !ok {
		return nil, nil
	}
	var txn *transaction
	for _, f := range []struct {
		signed, decoded string
		verify          func(string, time.Time) (map[string]any, error)
	}{
		{"signedTransactionInfo", "transactionInfo", p.v.transaction},
		{"signedRenewalInfo", "renewalInfo", p.v.renewal},
	} {
		s, present, err := stringField(data, f.signed)
		if err != nil {
			return nil, reason.Wrap(reason.Malformed, err, "data")
		}
		if !present {
			continue
		}
		m, err := f.verify(s, now)
		if err != nil {
			return nil, prefix(err, f.signed)
		}
		if f.signed == "signedTransactionInfo" {
			t, err := readTransaction(m)
			if err != nil {
				return nil, reason.Wrap(reason.Malformed, err, f.signed)
			}
			txn = t
		}
		delete(data, f.signed)
		data[f.decoded] = m
	}
	return txn, nil
}

// prefix names the nested object in a rejection's detail.
func prefix(err error, what string) error {
	var re *reason.Error
	if errors.As(err, &re) {
		return &reason.Error{Code: re.Code, Detail: what + ": " + re.Detail, Err: re.Err}
	}
	return reason.Wrap(reason.BadSignature, err, what)
}

// transaction is what payguard reads of a decoded signedTransactionInfo.
type transaction struct {
	id, originalID, appAccountToken string
	bundleID                        string
	price                           int64 // milliunits of currency
	hasPrice                        bool
	currency                        string
	revoked                         bool  // revocationDate is set: refunded or revoked
	revocationPercentage            int64 // 100000 is all of it; 0 when Apple states none
}

func readTransaction(m map[string]any) (*transaction, error) {
	t := &transaction{}
	var err error
	if t.id, _, err = stringField(m, "transactionId"); err != nil {
		return nil, err
	}
	if err := checkID("transactionId", t.id); err != nil {
		return nil, err
	}
	if t.originalID, _, err = stringField(m, "originalTransactionId"); err != nil {
		return nil, err
	}
	if t.appAccountToken, _, err = stringField(m, "appAccountToken"); err != nil {
		return nil, err
	}
	for _, id := range []struct{ name, v string }{{"originalTransactionId", t.originalID}, {"appAccountToken", t.appAccountToken}} {
		if id.v != "" {
			if err := checkID(id.name, id.v); err != nil {
				return nil, err
			}
		}
	}
	if t.bundleID, _, err = stringField(m, "bundleId"); err != nil {
		return nil, err
	}
	if t.price, t.hasPrice, err = intField(m, "price"); err != nil {
		return nil, err
	}
	if t.currency, _, err = stringField(m, "currency"); err != nil {
		return nil, err
	}
	if t.hasPrice && (t.price < 0 || !notification.IsCurrencyCode(t.currency)) {
		return nil, fmt.Errorf("price %d in currency %q is not a price", t.price, clip(t.currency))
	}
	_, t.revoked, err = intField(m, "revocationDate")
	if err != nil {
		return nil, err
	}
	if t.revocationPercentage, _, err = intField(m, "revocationPercentage"); err != nil {
		return nil, err
	}
	return t, nil
}

// outTradeNo is the merchant's order number: the appAccountToken the app
// set at purchase, else the original transaction id (stable across a
// subscription's renewals).
func (t *transaction) outTradeNo() string {
	if t.appAccountToken != "" {
		return t.appAccountToken
	}
	return t.originalID
}

// fill sets the notification's transaction fields. A payment or refund
// must state its price; a refund's amount is the price, or Apple's share
// of it for a prorated refund when that share is a whole minor unit.
func (t *transaction) fill(n *notification.Notification) error {
	n.TransactionID = t.id
	n.OutTradeNo = t.outTradeNo()
	if !t.hasPrice {
		if n.Status == notification.StatusPaid || n.Status == notification.StatusRefunded {
			return errors.New("signedTransactionInfo states no price")
		}
		return nil
	}
	minor, err := milliToMinor(t.price, t.currency)
	if err != nil {
		return err
	}
	n.Amount, n.Currency = minor, t.currency
	if n.Status == notification.StatusRefunded {
		n.RefundAmount = refundedShare(minor, t.revocationPercentage)
	}
	return nil
}

// refundedShare is the refunded part of amount: all of it without a
// percentage (or at 100000), else amount × pct / 100000 when that is a
// whole minor unit, else 0 (Apple's share is then only in raw: payguard
// rounds no money).
func refundedShare(amount, pct int64) int64 {
	const whole = 100000
	if pct == 0 || pct == whole {
		return amount
	}
	if pct < 0 || pct > whole || amount > math.MaxInt64/whole {
		return 0
	}
	if amount*pct%whole != 0 {
		return 0
	}
	return amount * pct / whole
}

// milliToMinor converts Apple's price (milliunits: 1000 per unit of the
// currency) into the currency's ISO 4217 minor unit, exactly: USD 990 is
// 99 cents, JPY 120000 is 120 yen, KWD 1234 is 1234 fils. A price that is
// not a whole minor unit is an error, never rounded.
func milliToMinor(price int64, currency string) (int64, error) {
	if price < 0 {
		return 0, errors.New("negative price")
	}
	exp := notification.CurrencyExponent(currency)
	switch {
	case exp < 3:
		div := int64(1000)
		for i := 0; i < exp; i++ {
			div /= 10
		}
		if price%div != 0 {
			return 0, fmt.Errorf("price %d milliunits is not a whole %s minor unit", price, clip(currency))
		}
		return price / div, nil
	case exp == 3:
		return price, nil
	}
	mul := int64(1)
	for i := 3; i < exp; i++ {
		mul *= 10
	}
	if price > math.MaxInt64/mul {
		return 0, errors.New("price out of range")
	}
	return price * mul, nil
}

// minorToMilli is the inverse of milliToMinor, for the simulator.
func minorToMilli(minor int64, currency string) (int64, error) {
	exp := notification.CurrencyExponent(currency)
	if exp > 3 {
		div := int64(1)
		for i := 3; i < exp; i++ {
			div *= 10
		}
		if minor%div != 0 {
			return 0, fmt.Errorf("%d %s minor units are no whole milliunit", minor, currency)
		}
		return minor / div, nil
	}
	mul := int64(1)
	for i := exp; i < 3; i++ {
		mul *= 10
	}
	if minor < 0 || minor > math.MaxInt64/mul {
		return 0, errors.New("amount out of range")
	}
	return minor * mul, nil
}
