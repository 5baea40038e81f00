package stripe

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// The sandbox's key files and defaults.
const (
	sandboxSecretFile = Name + "_webhook_secret"
	sandboxAPIKeyFile = Name + "_api_key"
	sandboxCurrency   = "USD"
	sandboxAPIVersion = "2024-06-20"
	// sandboxPrefix is where Mount serves the API; the query endpoint of
	// a sidecar is base + sandboxPrefix.
	sandboxPrefix = "/" + Name
)

// The simulator's status words are PaymentIntent statuses (and
// "refunded", which sends charge.refunded), each sent as the event type
// Stripe sends for it.
var sandboxEventTypes = map[string]string{
	"succeeded":               "payment_intent.succeeded",
	"processing":              "payment_intent.processing",
	"requires_payment_method": "payment_intent.payment_failed",
	"canceled":                "payment_intent.canceled",
	"refunded":                "charge.refunded",
}

var sandboxStatuses = []string{"succeeded", "processing", "requires_payment_method", "canceled", "refunded"}

var sandboxSpec = &provider.SandboxSpec{
	// Body fields are altered after signing (the HMAC covers the whole
	// body); stripe-signature flips a digit of the v1 signature, timestamp
	// moves t= after signing, v0 sends the signature as v0 only.
	Tamperable:   []string{"amount", "currency", "out_trade_no", "id", "type", "stripe-signature", "timestamp", "v0"},
	Currency:     sandboxCurrency,
	GenerateKeys: generateSandboxKeys,
	Load:         loadSandbox,
}

func generateSandboxKeys() ([]sandbox.KeyFile, error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return []sandbox.KeyFile{
		{Name: sandboxSecretFile, Data: []byte(SecretPrefix + base64.StdEncoding.EncodeToString(raw)), Mode: 0o600},
		{Name: sandboxAPIKeyFile, Data: append([]byte("sk_test_"), sandbox.RandomSecret(32)...), Mode: 0o600},
	}, nil
}

// simulator is the Stripe sandbox: it signs events with the webhook secret
// and serves the events and search APIs to holders of the API key.
type simulator struct {
	secret, apiKey      []byte
	secretPath, keyPath string
	logf                func(string, ...any)
}

func loadSandbox(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
	if err := dir.Present(sandboxSecretFile, sandboxAPIKeyFile); err != nil {
		return nil, err
	}
	s := &simulator{logf: opts.Logf}
	var err error
	if s.secret, err = dir.Read(sandboxSecretFile); err != nil {
		return nil, err
	}
	if err := CheckSecret(s.secret); err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(sandboxSecretFile), err)
	}
	if s.apiKey, err = dir.Read(sandboxAPIKeyFile); err != nil {
		return nil, err
	}
	if err := CheckAPIKey(s.apiKey); err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(sandboxAPIKeyFile), err)
	}
	if s.secretPath, err = filepath.Abs(dir.Path(sandboxSecretFile)); err != nil {
		return nil, err
	}
	if s.keyPath, err = filepath.Abs(dir.Path(sandboxAPIKeyFile)); err != nil {
		return nil, err
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	return s, nil
}

// Prepare implements provider.Sandbox.
func (s *simulator) Prepare(o *sandbox.Order, now time.Time) error {
	if err := sandbox.CheckCommon(o, Name, sandboxCurrency); err != nil {
		return err
	}
	for _, a := range []int64{o.Amount, o.QueryAmount} {
		if _, err := fromMinor(a, o.Currency); err != nil {
			return fmt.Errorf("stripe: %s %d: %v", o.Currency, a, err)
		}
	}
	if o.TransactionID == "" {
		o.TransactionID = "pi_" + string(sandbox.RandomSecret(24))
	} else if !validID(o.TransactionID, "pi_") {
		return fmt.Errorf("stripe: transaction_id must be a PaymentIntent id (pi_...)")
	}
	if o.EventID == "" {
		o.EventID = "evt_" + string(sandbox.RandomSecret(24))
	} else if !validID(o.EventID, "evt_") {
		return fmt.Errorf("stripe: event_id must be an event id (evt_...)")
	}
	return sandbox.SettleStatus(o, now, "succeeded", sandboxStatuses, func(st string) bool {
		return st == "succeeded" || st == "refunded"
	})
}

// BuildNotify implements provider.Sandbox: the event Stripe would send for
// o, signed at now as Stripe signs it.
func (s *simulator) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(Name, sandboxSpec.Tamperable, tamper); err != nil {
		return nil, err
	}
	created := o.PaidAt
	if created.IsZero() {
		created = now
	}
	body, err := sandboxEvent(o, o.Status, o.Amount, created)
	if err != nil {
		return nil, err
	}
	sig := SignatureHeader(now, body, s.secret)
	if body, sig, err = tamperEvent(o, tamper, body, sig, created); err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	h.Set(HeaderSignature, sig)
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// tamperEvent alters one field after signing.
func tamperEvent(o *sandbox.Order, tamper string, body []byte, sig string, created time.Time) ([]byte, string, error) {
	forged := *o
	status := o.Status
	switch tamper {
	case "":
		return body, sig, nil
	case "stripe-signature":
		last := sig[len(sig)-1]
		flip := byte('0')
		if last == '0' {
			flip = '1'
		}
		return body, sig[:len(sig)-1] + string(flip), nil
	case "timestamp":
		ts, rest, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
		t, _ := strconv.ParseInt(ts, 10, 64)
		return body, "t=" + strconv.FormatInt(t+1, 10) + "," + rest, nil
	case "v0":
		return body, strings.Replace(sig, ",v1=", ",v0=", 1), nil
	case "amount":
		forged.Amount++
	case "currency":
		forged.Currency = "EUR"
		if o.Currency == "EUR" {
			forged.Currency = "GBP"
		}
	case "out_trade_no":
		forged.OutTradeNo += "X"
	case "id":
		forged.EventID += "X"
	case "type":
		status = "succeeded"
		if o.Status == "succeeded" {
			status = "processing"
		}
	}
	b, err := sandboxEvent(&forged, status, forged.Amount, created)
	return b, sig, err
}

// Mount implements provider.Sandbox: GET /stripe/v1/events/{id} and GET
// /stripe/v1/payment_intents/search, for holders of the sandbox's API key.
// Both answer what the order book says the query should (QueryStatus,
// QueryAmount), so a test can make Stripe disagree with a notification.
func (s *simulator) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
	mux.HandleFunc("GET "+sandboxPrefix+eventsPath+"{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		id := r.PathValue("id")
		o, ok := book.FindEvent(Name, id)
		if !ok {
			s.logf("stripe: event %s: no such event", sandbox.Clip(id))
			writeJSON(w, http.StatusNotFound, stripeError("resource_missing", "No such event: '"+sandbox.Clip(id)+"'"))
			return
		}
		created := o.PaidAt
		if created.IsZero() {
			created = time.Now()
		}
		body, err := sandboxEvent(&o, o.QueryStatus, o.QueryAmount, created)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, stripeError("api_error", err.Error()))
			return
		}
		s.logf("stripe: event %s answered (%s)", id, o.QueryStatus)
		writeJSON(w, http.StatusOK, json.RawMessage(body))
	})
	mux.HandleFunc("GET "+sandboxPrefix+searchPath, func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		no, ok := parseSearchQuery(r.URL.Query().Get("query"))
		if !ok {
			writeJSON(w, http.StatusBadRequest, stripeError("parameter_invalid_string", "the sandbox answers only payguard's order search"))
			return
		}
		data := []any{}
		if o, found := book.Get(Name, no); found {
			pi, err := sandboxPaymentIntent(&o, o.QueryStatus, o.QueryAmount, o.PaidAt)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, stripeError("api_error", err.Error()))
				return
			}
			data = append(data, pi)
		}
		s.logf("stripe: search for order %s: %d hit(s)", no, len(data))
		writeJSON(w, http.StatusOK, map[string]any{
			"object": "search_result", "data": data, "has_more": false,
			"next_page": nil, "url": searchPath,
		})
	})
}

func (s *simulator) authorized(w http.ResponseWriter, r *http.Request) bool {
	want := append([]byte("Bearer "), s.apiKey...)
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1 {
		return true
	}
	writeJSON(w, http.StatusUnauthorized, stripeError("", "Invalid API Key provided"))
	return false
}

// Settings implements provider.Sandbox.
func (s *simulator) Settings(base string) []provider.Setting {
	return []provider.Setting{
		{Name: "secret_file", Args: []string{s.secretPath}},
		{Name: "endpoint", Args: []string{strings.TrimRight(base, "/") + sandboxPrefix}, Query: true},
		{Name: "api_key_file", Args: []string{s.keyPath}, Query: true},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"type":"api_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func stripeError(code, msg string) any {
	e := map[string]string{"type": "invalid_request_error", "message": msg}
	if code != "" {
		e["code"] = code
	}
	return map[string]any{"error": e}
}

// parseSearchQuery is SearchQuery's inverse: the order number payguard
// searches for, and false for any other expression.
func parseSearchQuery(q string) (string, bool) {
	const first, second = "metadata['out_trade_no']:", " OR metadata['order_id']:"
	a, rest, ok := unquoteSearch(strings.TrimPrefix(q, first))
	if !ok || !strings.HasPrefix(q, first) || !strings.HasPrefix(rest, second) {
		return "", false
	}
	b, rest, ok := unquoteSearch(strings.TrimPrefix(rest, second))
	if !ok || rest != "" || a != b {
		return "", false
	}
	return a, true
}

// unquoteSearch reads one '...' value with \' escapes off the front of s.
func unquoteSearch(s string) (val, rest string, ok bool) {
	if !strings.HasPrefix(s, "'") {
		return "", "", false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || s[i+1] != '\'' {
				return "", "", false
			}
			b.WriteByte('\'')
			i++
		case '\'':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}
