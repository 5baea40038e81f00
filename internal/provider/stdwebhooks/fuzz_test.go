package stdwebhooks

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/stdwebhook"
)

// FuzzVerifyNotify: arbitrary headers and bodies, some genuinely signed,
// never panic; every error is a reason code the contract knows; whatever
// verifies was signed and yields contract-shaped fields.
func FuzzVerifyNotify(f *testing.F) {
	sym := newProvider(f, Config{Secrets: [][]byte{testSecret}})
	asym := newProvider(f, Config{PublicKeys: []ed25519.PublicKey{testPub}})
	f.Add("msg_1", "1700000000", "", []byte(paidBody), true)
	f.Add("msg_1", "1700000000", "v1,AAAA v1a,BBBB", []byte(`{"data":{}}`), false)
	f.Add("m.1", "-1", "v1", []byte(`[`), true)
	f.Add("msg_2", "1700000000", "", []byte(`{"data":{"out_trade_no":1,"amount":1.5,"currency":"USD","status":"paid"}}`), true)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, sign bool) {
		h := http.Header{}
		h.Set(stdwebhook.HeaderID, id)
		h.Set(stdwebhook.HeaderTimestamp, ts)
		if sign {
			// Sign what is sent, so the body and mappings are reached.
			if n, err := strconv.ParseInt(ts, 10, 64); err == nil && strconv.FormatInt(n, 10) == ts {
				sig = stdwebhook.Sign([][]byte{testSecret}, id, n, body) + " " + stdwebhook.SignV1a([]ed25519.PrivateKey{testPriv}, id, n, body)
			}
		}
		h.Set(stdwebhook.HeaderSignature, sig)
		for _, p := range []*Provider{sym, asym} {
			req := &provider.Request{Method: http.MethodPost, Header: h.Clone(), Body: body, Now: time.Unix(1700000000, 0)}
			v, err := p.VerifyNotify(req)
			if err != nil {
				var re *reason.Error
				if !errors.As(err, &re) || (re.Code != reason.Malformed && re.Code != reason.BadSignature) {
					t.Fatalf("error %v", err)
				}
				continue
			}
			n := v.Notification
			if !sign || n.EventID == "" || !n.Status.Valid() || n.Amount < 0 || v.Timestamp.IsZero() ||
				((n.Status == notification.StatusPaid || n.Status == notification.StatusRefunded) && (n.OutTradeNo == "" || n.Currency == "")) {
				t.Fatalf("verified %+v (signed by the test: %v)", v, sign)
			}
		}
	})
}
