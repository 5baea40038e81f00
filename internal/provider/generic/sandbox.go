package generic

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// The sandbox simulates one partner with a fixed scheme: JSON, HMAC-SHA256
// in hex over "timestamp.nonce.body", the timestamp and nonce in headers.
// It has no query API (a generic partner has none payguard knows).
const (
	sandboxSecret    = "generic_secret"
	simSignature     = "X-Signature"
	simTimestamp     = "X-Timestamp"
	simNonce         = "X-Nonce"
	simSecretLength  = 32
	simTransactionID = "SIMTXN"
)

// simStatuses are the sandbox partner's status words: the contract's own,
// which its status mapping passes through.
var simStatuses = []string{"paid", "refunded", "closed", "pending", "failed"}

var sandboxSpec = &provider.SandboxSpec{
	Tamperable: []string{"amount", "out_trade_no", "event_id", "status", "timestamp", "nonce", "signature"},
	Currency:   "CNY",
	GenerateKeys: func() ([]sandbox.KeyFile, error) {
		return []sandbox.KeyFile{{Name: sandboxSecret, Data: sandbox.RandomSecret(simSecretLength), Mode: 0o600}}, nil
	},
	Load: func(dir sandbox.Dir, _ provider.SandboxOptions) (provider.Sandbox, error) {
		if err := dir.Present(sandboxSecret); err != nil {
			return nil, err
		}
		secret, err := dir.Secret(sandboxSecret, simSecretLength)
		if err != nil {
			return nil, err
		}
		return &simulator{dir: dir, signer: Signer{Scheme: simScheme(), Secret: secret}}, nil
	},
}

func simScheme() Scheme {
	return Scheme{
		Format: formatJSON, Signature: Location{Header: true, Name: simSignature}, Encoding: "hex",
		Algorithm: AlgHMACSHA256, Message: MessageConcat, Parts: []string{tokTimestamp, tokNonce, tokBody},
		Separator: ".", Timestamp: &Location{Header: true, Name: simTimestamp}, Nonce: &Location{Header: true, Name: simNonce},
	}
}

type simulator struct {
	dir    sandbox.Dir
	signer Signer
}

func (s *simulator) Prepare(o *sandbox.Order, now time.Time) error {
	if err := sandbox.CheckCommon(o, SpecName, "CNY"); err != nil {
		return err
	}
	if o.TransactionID == "" {
		o.TransactionID = simTransactionID + sandbox.RandDigits(18)
	}
	if o.EventID == "" {
		o.EventID = "evt_" + o.TransactionID
	}
	return sandbox.SettleStatus(o, now, "paid", simStatuses, func(st string) bool { return st == "paid" || st == "refunded" })
}

func (s *simulator) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(SpecName, sandboxSpec.Tamperable, tamper); err != nil {
		return nil, err
	}
	if err := s.Prepare(o, now); err != nil {
		return nil, err
	}
	ev := map[string]any{
		"id": o.EventID, "out_trade_no": o.OutTradeNo, "transaction_id": o.TransactionID,
		"amount": o.Amount, "currency": o.Currency, "status": o.Status, "created": now.Unix(),
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	g := s.signer
	g.Timestamp, g.Nonce = strconv.FormatInt(now.Unix(), 10), "n"+sandbox.RandDigits(23)
	_, headers, err := g.SignBody(body)
	if err != nil {
		return nil, err
	}
	switch tamper {
	case "amount":
		ev["amount"] = o.Amount + 1
	case "out_trade_no":
		ev["out_trade_no"] = o.OutTradeNo + "X"
	case "event_id":
		ev["id"] = o.EventID + "X"
	case "status":
		ev["status"] = "refunded"
		if o.Status == "refunded" {
			ev["status"] = "paid"
		}
	case "timestamp":
		headers[simTimestamp] = strconv.FormatInt(now.Unix()+1, 10)
	case "nonce":
		headers[simNonce] = g.Nonce + "X"
	case "signature":
		headers[simSignature] = flipHex(headers[simSignature])
	}
	if body, err = json.Marshal(ev); err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	for k, v := range headers {
		h.Set(k, v)
	}
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

func flipHex(s string) string {
	if strings.HasPrefix(s, "0") {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

// Mount: the sandbox partner has no query API.
func (s *simulator) Mount(*http.ServeMux, *sandbox.OrderBook) {}

// Settings describe the sandbox's scheme in the generic block.
func (s *simulator) Settings(string) []provider.Setting {
	set := func(name string, args ...string) provider.Setting { return provider.Setting{Name: name, Args: args} }
	return []provider.Setting{
		set("name", SpecName),
		set("format", formatJSON),
		set("signature", "header", simSignature),
		set("encoding", "hex"),
		set("algorithm", AlgHMACSHA256),
		set("secret_file", s.dir.Path(sandboxSecret)),
		set("message", MessageConcat, tokTimestamp, tokNonce, tokBody),
		set("separator", "."),
		set("timestamp", "header", simTimestamp),
		set("nonce", "header", simNonce),
		set("event_id", "body.id"),
		set("out_trade_no", "body.out_trade_no"),
		set("transaction_id", "body.transaction_id"),
		set("amount", "int(body.amount)"),
		set("currency", "body.currency"),
		set("status", "body.status"),
		set("refund_amount", `body.status == "refunded" ? int(body.amount) : 0`),
	}
}
