package stdwebhooks

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
	"github.com/payguard/payguard/internal/stdwebhook"
)

// The sandbox's key files: a v1 secret and a v1a key pair, each in the
// spec's text form without a trailing newline.
const (
	fileSecret     = Name + "_secret"      // whsec_..., 0600
	filePrivateKey = Name + "_private_key" // whsk_..., 0600
	filePublicKey  = Name + "_public_key"  // whpk_..., 0644
)

// The simulated sender's own status words (a Standard Webhooks sender has
// its own vocabulary; the sandbox's Settings map it with CEL).
var senderStatuses = []string{"succeeded", "pending", "failed", "canceled", "refunded"}

const senderPaid = "succeeded"

// Tamper fields: each must make the real verifier refuse the message.
var tamperable = []string{"amount", "webhook-id", "webhook-timestamp", "webhook-signature"}

func sandboxSpec() *provider.SandboxSpec {
	return &provider.SandboxSpec{
		Tamperable:   tamperable,
		Currency:     "USD",
		GenerateKeys: generateKeys,
		Load:         loadSandbox,
	}
}

func generateKeys() ([]sandbox.KeyFile, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (Go 1.24+)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return []sandbox.KeyFile{
		{Name: fileSecret, Data: []byte(stdwebhook.FormatSecret(secret)), Mode: 0o600},
		{Name: filePrivateKey, Data: []byte(stdwebhook.FormatPrivateKey(priv)), Mode: 0o600},
		{Name: filePublicKey, Data: []byte(stdwebhook.FormatPublicKey(pub)), Mode: 0o644},
	}, nil
}

// Sandbox is a simulated Standard Webhooks sender. It signs with v1 (the
// secret) by default, or with v1a (the Ed25519 key) with the parameter
// scheme=v1a; Settings configure the sidecar for the same scheme.
type Sandbox struct {
	scheme string
	secret []byte
	priv   ed25519.PrivateKey
}

func loadSandbox(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
	if err := dir.Present(fileSecret, filePrivateKey, filePublicKey); err != nil {
		return nil, err
	}
	s := &Sandbox{scheme: stdwebhook.VersionV1}
	// Params are shared by every provider of one `sim` run: only scheme is
	// ours, the others (wechatpay_v2's sign_type, ...) are not.
	if v, ok := opts.Params["scheme"]; ok {
		if v != stdwebhook.VersionV1 && v != stdwebhook.VersionV1a {
			return nil, fmt.Errorf("%s sandbox: scheme must be v1 or v1a, not %q", Name, sandbox.Clip(v))
		}
		s.scheme = v
	}
	text := map[string]string{}
	for _, f := range []string{fileSecret, filePrivateKey, filePublicKey} {
		b, err := dir.Read(f)
		if err != nil {
			return nil, err
		}
		text[f] = string(b)
	}
	var err error
	if s.secret, err = stdwebhook.ParseSecret(text[fileSecret]); err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(fileSecret), err)
	}
	if s.priv, err = stdwebhook.ParsePrivateKey(text[filePrivateKey]); err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(filePrivateKey), err)
	}
	pub, err := stdwebhook.ParsePublicKey(text[filePublicKey])
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(filePublicKey), err)
	}
	if !pub.Equal(s.priv.Public()) {
		return nil, fmt.Errorf("%s is not the public half of %s", dir.Path(filePublicKey), filePrivateKey)
	}
	return s, nil
}

// Prepare fills a sender's numbers: a pay_ transaction id, a msg_ webhook
// id (stable across resends of this order's notification), the paid word.
func (s *Sandbox) Prepare(o *sandbox.Order, now time.Time) error {
	if err := sandbox.CheckCommon(o, Name, "USD"); err != nil {
		return err
	}
	if o.AppID != "" || o.MchID != "" {
		return errors.New("stdwebhooks orders have no app_id or mch_id")
	}
	if o.TransactionID == "" {
		o.TransactionID = "pay_" + sandbox.RandDigits(20)
	}
	if o.EventID == "" {
		o.EventID = "msg_" + sandbox.RandDigits(24)
	}
	return sandbox.SettleStatus(o, now, senderPaid, senderStatuses, func(st string) bool { return st == senderPaid })
}

// payload is the simulated sender's body: the spec's recommended envelope.
type payload struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      payloadData `json:"data"`
}

type payloadData struct {
	OrderID   string `json:"order_id"`
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Status    string `json:"status"`
}

// BuildNotify signs o's notification as a Standard Webhooks sender does at
// now; tamper alters one field after signing.
func (s *Sandbox) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(Name, tamperable, tamper); err != nil {
		return nil, err
	}
	at := o.PaidAt
	if at.IsZero() {
		at = now
	}
	p := payload{Type: "payment." + o.Status, Timestamp: at.UTC().Format(time.RFC3339),
		Data: payloadData{OrderID: o.OutTradeNo, PaymentID: o.TransactionID, Amount: o.Amount, Currency: o.Currency, Status: o.Status}}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	id, ts := o.EventID, now.Unix()
	sig := s.sign(id, ts, body)
	switch tamper {
	case "amount":
		p.Data.Amount++
		if body, err = json.Marshal(p); err != nil {
			return nil, err
		}
	case "webhook-id":
		id += "x"
	case "webhook-timestamp":
		ts++ // still inside any window: only the signature can refuse it
	case "webhook-signature":
		sig = flipBit(sig)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "payguard-sim (Standard Webhooks)")
	h.Set(stdwebhook.HeaderID, id)
	h.Set(stdwebhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(stdwebhook.HeaderSignature, sig)
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

func (s *Sandbox) sign(id string, ts int64, body []byte) string {
	if s.scheme == stdwebhook.VersionV1a {
		return stdwebhook.SignV1a([]ed25519.PrivateKey{s.priv}, id, ts, body)
	}
	return stdwebhook.Sign([][]byte{s.secret}, id, ts, body)
}

// flipBit changes one bit of the signature in its single entry, so the
// value stays valid base64 of the right length and reaches the crypto.
func flipBit(sig string) string {
	for i := 0; i < len(sig); i++ {
		if sig[i] == ',' {
			raw, err := base64.StdEncoding.DecodeString(sig[i+1:])
			if err != nil || len(raw) == 0 {
				break
			}
			raw[len(raw)/2] ^= 0x01
			return sig[:i+1] + base64.StdEncoding.EncodeToString(raw)
		}
	}
	return sig + "x"
}

// Mount: the standard defines no query API, so the sandbox serves none.
func (s *Sandbox) Mount(*http.ServeMux, *sandbox.OrderBook) {}

// SandboxMappings map the sandbox's body (payload above) onto payguard's
// fields; event_id keeps its default, the signed webhook-id.
var SandboxMappings = []provider.Setting{
	{Name: FieldOutTradeNo, Args: []string{`body.data.order_id`}},
	{Name: FieldTransactionID, Args: []string{`body.data.payment_id`}},
	{Name: FieldAmount, Args: []string{`body.data.amount`}},
	{Name: FieldCurrency, Args: []string{`body.data.currency`}},
	// Single-quoted CEL strings: the line goes into a Caddyfile as one
	// double-quoted token.
	{Name: FieldStatus, Args: []string{`body.data.status == 'succeeded' ? 'paid' : body.data.status == 'canceled' ? 'closed' : body.data.status`}},
}

// Settings are the handler options of a sidecar that verifies this
// sandbox's notifications: its secret (or, with scheme=v1a, its public
// key) and the mappings of its body. There is no query.
func (s *Sandbox) Settings(string) []provider.Setting {
	key := provider.Setting{Name: "secret", Args: []string{stdwebhook.FormatSecret(s.secret)}}
	if s.scheme == stdwebhook.VersionV1a {
		key = provider.Setting{Name: "public_key", Args: []string{stdwebhook.FormatPublicKey(s.priv.Public().(ed25519.PublicKey))}}
	}
	return append([]provider.Setting{key}, SandboxMappings...)
}
