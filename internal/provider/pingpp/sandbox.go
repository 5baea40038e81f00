package pingpp

import (
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// Sandbox key files.
const (
	sandboxPrivate = "pingpp_private.pem" // Ping++'s stand-in signing key
	sandboxPublic  = "pingpp_public.pem"  // what payguard's public_key_file names
	sandboxAPIKey  = "pingpp_api_key"     // the sk_test_ key the query sends
	sandboxAppID   = "app_SIMpayguard00000000000"
)

// Sandbox order status words: what the simulated charge is.
const (
	simPaid     = "paid"     // charge.succeeded, paid:true
	simRefunded = "refunded" // refund.succeeded, the whole amount
	simUnpaid   = "unpaid"   // only as query_status: a forged payment notice
)

var simStatuses = []string{simPaid, simRefunded, simUnpaid}

var sandboxSpec = &provider.SandboxSpec{
	Tamperable: []string{"amount", "order_no", "charge_id", "event_id", "type", "created", "app", "signature"},
	Currency:   "CNY",
	GenerateKeys: func() ([]sandbox.KeyFile, error) {
		_, files, err := sandbox.NewRSAPair(sandboxPrivate, sandboxPublic)
		if err != nil {
			return nil, err
		}
		key := append([]byte("sk_test_"), sandbox.RandomSecret(24)...)
		return append(files, sandbox.KeyFile{Name: sandboxAPIKey, Data: key, Mode: 0o600}), nil
	},
	Load: loadSandbox,
}

type simulator struct {
	dir    sandbox.Dir
	key    *rsa.PrivateKey
	apiKey []byte
	logf   func(string, ...any)
}

func loadSandbox(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
	if err := dir.Present(sandboxPrivate, sandboxPublic, sandboxAPIKey); err != nil {
		return nil, err
	}
	key, err := dir.RSAPair(sandboxPrivate, sandboxPublic)
	if err != nil {
		return nil, err
	}
	apiKey, err := dir.Secret(sandboxAPIKey, 0)
	if err != nil {
		return nil, err
	}
	s := &simulator{dir: dir, key: key, apiKey: apiKey, logf: opts.Logf}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	return s, nil
}

func (s *simulator) Prepare(o *sandbox.Order, now time.Time) error {
	if err := sandbox.CheckCommon(o, Name, "CNY"); err != nil {
		return err
	}
	if o.Currency != "CNY" {
		return fmt.Errorf("pingpp: charges are in CNY, not %s", o.Currency)
	}
	if o.TransactionID == "" {
		o.TransactionID = "ch_SIM" + sandbox.RandDigits(21)
	}
	if o.EventID == "" {
		o.EventID = "evt_SIM" + sandbox.RandDigits(21)
	}
	if o.AppID == "" {
		o.AppID = sandboxAppID
	}
	if !strings.HasPrefix(o.TransactionID, "ch_") || !strings.HasPrefix(o.EventID, "evt_") || !strings.HasPrefix(o.AppID, "app_") {
		return fmt.Errorf("pingpp: transaction_id must start ch_, event_id evt_ and app_id app_")
	}
	return sandbox.SettleStatus(o, now, simPaid, simStatuses, func(st string) bool { return st != simUnpaid })
}

// BuildNotify writes the event Ping++ sends: charge.succeeded for a paid
// order, refund.succeeded (the whole amount) for a refunded one.
func (s *simulator) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(Name, sandboxSpec.Tamperable, tamper); err != nil {
		return nil, err
	}
	if err := s.Prepare(o, now); err != nil {
		return nil, err
	}
	ev := simEvent(o, now)
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	sig, err := Sign(s.key, body)
	if err != nil {
		return nil, err
	}
	if tamper != "" && tamper != "signature" {
		tamperEvent(ev, tamper)
		if body, err = json.Marshal(ev); err != nil {
			return nil, err
		}
	}
	if tamper == "signature" {
		sig = flipBase64(sig)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set(SignatureHeader, sig)
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// simEvent is the event as a map, so tampering edits the same structure
// that was signed. encoding/json writes map keys sorted: Ping++'s own key
// order differs, which no verifier may depend on.
func simEvent(o *sandbox.Order, now time.Time) map[string]any {
	typ, object := TypeChargeSucceeded, simCharge(o)
	if o.Status == simRefunded {
		typ = TypeRefundSucceeded
		object = map[string]any{
			"id": "re_" + strings.TrimPrefix(o.TransactionID, "ch_"), "object": "refund",
			"order_no": o.OutTradeNo, "charge_order_no": o.OutTradeNo, "amount": o.Amount,
			"created": now.Unix(), "succeed": true, "status": "succeeded", "time_succeed": now.Unix(),
			"charge": o.TransactionID, "app": o.AppID, "metadata": map[string]any{},
		}
	}
	return map[string]any{
		"id": o.EventID, "object": "event", "created": now.Unix(), "livemode": true, "type": typ,
		"data":             map[string]any{"object": object},
		"pending_webhooks": 0, "request": "iar_SIM" + sandbox.RandDigits(17),
	}
}

func simCharge(o *sandbox.Order) map[string]any {
	refunded := int64(0)
	if o.Status == simRefunded || o.QueryStatus == simRefunded {
		refunded = o.Amount
	}
	c := map[string]any{
		"id": o.TransactionID, "object": "charge", "livemode": true, "app": o.AppID,
		"paid": o.Status != simUnpaid, "refunded": refunded == o.Amount, "channel": "wx",
		"order_no": o.OutTradeNo, "amount": o.Amount, "amount_refunded": refunded,
		"currency": strings.ToLower(o.Currency), "subject": "payguard sandbox", "body": "payguard sandbox order",
		"transaction_no": "SIM" + strings.TrimPrefix(o.TransactionID, "ch_SIM"),
		"metadata":       map[string]any{}, "credential": map[string]any{},
	}
	if !o.PaidAt.IsZero() {
		c["time_paid"] = o.PaidAt.Unix()
		c["created"] = o.PaidAt.Unix() - 5
	}
	return c
}

func tamperEvent(ev map[string]any, field string) {
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	switch field {
	case "amount":
		obj["amount"] = obj["amount"].(int64) + 1
	case "order_no":
		obj["order_no"] = obj["order_no"].(string) + "X"
		if _, ok := obj["charge_order_no"]; ok {
			obj["charge_order_no"] = obj["order_no"]
		}
	case "charge_id":
		if _, ok := obj["charge"]; ok {
			obj["charge"] = obj["charge"].(string) + "X"
		} else {
			obj["id"] = obj["id"].(string) + "X"
		}
	case "event_id":
		ev["id"] = ev["id"].(string) + "X"
	case "type":
		ev["type"] = "charge.failed"
	case "created":
		ev["created"] = ev["created"].(int64) + 1
	case "app":
		obj["app"] = "app_Stranger000000000000"
	}
}

// flipBase64 changes the signature's first character to another valid
// base64 digit: still decodable, no longer the signature.
func flipBase64(sig string) string {
	if sig == "" {
		return "A"
	}
	c := byte('A')
	if sig[0] == 'A' {
		c = 'B'
	}
	return string(c) + sig[1:]
}

// Mount serves GET /pingpp/v1/charges/{id}, Basic-authenticated with the
// sandbox's api key, from the order book.
func (s *simulator) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
	mux.HandleFunc("GET /"+Name+"/v1/charges/{id}", func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || pass != "" || subtle.ConstantTimeCompare([]byte(user), s.apiKey) != 1 {
			writePingppError(w, http.StatusUnauthorized, "invalid_request_error", "No API key provided or the key is invalid")
			return
		}
		id := r.PathValue("id")
		o, found := book.FindTransaction(Name, id)
		if !found {
			s.logf("pingpp sandbox: charge %s not found", sandbox.Clip(id))
			writePingppError(w, http.StatusNotFound, "invalid_request_error", "No such charge: "+sandbox.Clip(id))
			return
		}
		q := o
		q.Amount, q.Status = o.QueryAmount, o.QueryStatus
		c := simCharge(&q)
		c["amount"] = o.QueryAmount
		s.logf("pingpp sandbox: charge %s answered (%s, %d)", id, o.QueryStatus, o.QueryAmount)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(c)
	})
}

func writePingppError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}

// Settings are the handler options that verify this sandbox's webhooks and
// query its charge API at base.
func (s *simulator) Settings(base string) []provider.Setting {
	return []provider.Setting{
		{Name: "public_key_file", Args: []string{s.dir.Path(sandboxPublic)}},
		{Name: "app_id", Args: []string{sandboxAppID}},
		{Name: "api_key_file", Args: []string{s.dir.Path(sandboxAPIKey)}, Query: true},
		{Name: "endpoint", Args: []string{base + "/" + Name}, Query: true},
	}
}
