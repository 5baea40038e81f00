package unionpay

import (
	"reflect"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// normalizeOracle and readTxnOracle are normalize and readTxn as they
// were before normalize read the form in one pass: the oracle
// FuzzNormalizeMatchesOracle holds them to.
func (p *Provider) normalizeOracle(f *formbody.Form) (*provider.Verified, error) {
	if got := f.Value("merId"); got != p.merID {
		// bad_signature, as alipay's app_id: UnionPay signed it, but not
		// for this merchant (another merchant's notification replayed here).
		return nil, reason.New(reason.BadSignature, "merId mismatch: got %s", quoteKey(got))
	}
	for _, k := range []string{"orderId", "queryId", "txnType", "txnTime", "respCode", "txnAmt", "currencyCode"} {
		if f.Value(k) == "" {
			return nil, reason.New(reason.Malformed, "%s missing", k)
		}
	}
	txn, err := readTxnOracle(f, "respCode")
	if err != nil {
		return nil, err
	}
	raw := make(map[string]any, f.Len())
	for _, pr := range f.Pairs() {
		if pr.Key == fieldSignature || pr.Key == fieldCert {
			continue
		}
		raw[pr.Key] = pr.Value
	}
	if acc, ok := raw["accNo"].(string); ok {
		raw["accNo"] = maskPAN(acc)
	}
	n := notification.Notification{
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
		Raw:           raw,
	}
	if txn.txnType == TxnRefund {
		n.RefundAmount, n.RefundID = txn.txnAmt, txn.queryID
	}
	// txnTime is when the merchant sent the order (or the refund), signed:
	// UnionPay signs no send time, so max_age holds it, not tolerance.
	return &provider.Verified{Notification: n, EventTime: txn.txnTime}, nil
}

func readTxnOracle(f *formbody.Form, codeField string) (*txnFields, error) {
	t := &txnFields{orderID: f.Value("orderId"), queryID: f.Value("queryId"), txnType: f.Value("txnType")}
	var ok bool
	if t.txnTime, ok = parseTxnTime(f.Value("txnTime")); !ok {
		return nil, reason.New(reason.Malformed, "txnTime is not yyyyMMddHHmmss")
	}
	var err error
	if t.txnAmt, err = parseFen(f.Value("txnAmt")); err != nil {
		return nil, reason.New(reason.Malformed, "txnAmt is not a whole number of fen")
	}
	t.amount = t.txnAmt
	if orig, present := f.Lookup("origTxnAmt"); present && t.txnType == TxnRefund {
		if t.amount, err = parseFen(orig); err != nil {
			return nil, reason.New(reason.Malformed, "origTxnAmt is not a whole number of fen")
		}
		t.hasOrigAmt = true
	}
	if t.currency, ok = currencyOf(f.Value("currencyCode")); !ok {
		return nil, reason.New(reason.Malformed, "currencyCode %s is not supported (only 156, CNY)", quoteKey(f.Value("currencyCode")))
	}
	t.status = mapStatus(t.txnType, f.Value(codeField))
	return t, nil
}

// FuzzNormalizeMatchesOracle: on any form (normalize runs after the
// signature, which fuzzed bodies never pass), normalize refuses what the
// former one refused, with the same code and detail, and otherwise builds
// the same notification.
func FuzzNormalizeMatchesOracle(f *testing.F) {
	p := newProvider(f, nil)
	now := time.Now()
	f.Add(genuine(f, sampleParams(now)))
	for _, s := range []string{
		"merId=" + testMerID + "&orderId=1&queryId=2&txnType=04&txnTime=20261201120000&respCode=00&txnAmt=100&currencyCode=156&origTxnAmt=x",
		"merId=" + testMerID + "&orderId=1&queryId=2&txnType=04&txnTime=20261201120000&respCode=00&txnAmt=100&currencyCode=156&origTxnAmt=200&accNo=6216000000000018",
		"merId=" + testMerID + "&orderId=1&queryId=2&txnType=01&txnTime=2026&respCode=03&txnAmt=100&currencyCode=156",
		"merId=" + testMerID + "&orderId=1&queryId=2&txnType=31&txnTime=20261201120000&respCode=A6&txnAmt=01&currencyCode=840",
		"merId=other&orderId=1", "merId=" + testMerID + "&queryId=", "origRespCode=00&signature=x&signPubKeyCert=y",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		form, err := formbody.Parse(b)
		if err != nil {
			return
		}
		got, gotErr := p.normalize(form)
		want, wantErr := p.normalizeOracle(form)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, oracle %v", b, gotErr, wantErr)
		}
		if gotErr != nil {
			if reason.CodeOf(gotErr, "") != reason.CodeOf(wantErr, "") || gotErr.Error() != wantErr.Error() {
				t.Fatalf("%q: error %v, oracle %v", b, gotErr, wantErr)
			}
			return
		}
		got.Notification.Fields() // the deferred Raw, built as the oracle builds it eagerly
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, oracle %+v", b, got, want)
		}
	})
}
