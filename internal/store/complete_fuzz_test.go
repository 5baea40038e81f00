package store

import (
	"strings"
	"testing"
)

// FuzzParseTxn: a transaction record of any shape is read without a
// panic, and every record the store writes reads back as written.
func FuzzParseTxn(f *testing.F) {
	f.Add("notify", "0123abcd", "evt:1")
	f.Add("recovered", "", "recovered:T1")
	f.Add("f:", ":", "d:x:y")
	f.Fuzz(func(t *testing.T, source, token, eventID string) {
		parseTxn(source + token + eventID)
		if source == "" || strings.Contains(source, ":") || strings.Contains(token, ":") {
			return
		}
		st, src, tok, ev, ok := parseTxn(txnInFlight(source, token, eventID))
		if !ok || st != TxnInFlight || src != source || tok != token || ev != eventID {
			t.Fatalf("in flight read back as %d %q %q %q %v", st, src, tok, ev, ok)
		}
		st, src, _, ev, ok = parseTxn(txnDone(source, eventID))
		if !ok || st != TxnDelivered || src != source || ev != eventID {
			t.Fatalf("done read back as %d %q %q %v", st, src, ev, ok)
		}
	})
}
