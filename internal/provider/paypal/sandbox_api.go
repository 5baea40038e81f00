package paypal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payguard/payguard/internal/sandbox"
)

// The JSON shapes the sandbox renders, fields in PayPal's order.
type (
	simMoney struct {
		CurrencyCode string `json:"currency_code"`
		Value        string `json:"value"`
	}
	simLink struct {
		Href   string `json:"href"`
		Rel    string `json:"rel"`
		Method string `json:"method"`
	}
	simCapture struct {
		ID                string    `json:"id"`
		Status            string    `json:"status"`
		Amount            simMoney  `json:"amount"`
		FinalCapture      bool      `json:"final_capture"`
		CustomID          string    `json:"custom_id"`
		SupplementaryData any       `json:"supplementary_data"`
		CreateTime        string    `json:"create_time"`
		UpdateTime        string    `json:"update_time"`
		Links             []simLink `json:"links"`
	}
	simRefund struct {
		ID         string    `json:"id"`
		Status     string    `json:"status"`
		Amount     simMoney  `json:"amount"`
		CustomID   string    `json:"custom_id"`
		CreateTime string    `json:"create_time"`
		UpdateTime string    `json:"update_time"`
		Links      []simLink `json:"links"`
	}
	simEvent struct {
		ID              string    `json:"id"`
		EventVersion    string    `json:"event_version"`
		CreateTime      string    `json:"create_time"`
		ResourceType    string    `json:"resource_type"`
		ResourceVersion string    `json:"resource_version"`
		EventType       string    `json:"event_type"`
		Summary         string    `json:"summary"`
		Resource        any       `json:"resource"`
		Links           []simLink `json:"links"`
	}
)

// renderEvent is the webhook event for o with the given amount: a capture
// event, or for REFUNDED a refund of the whole amount.
func renderEvent(o *sandbox.Order, amount int64, now time.Time) ([]byte, error) {
	value, err := FormatAmount(amount, o.Currency)
	if err != nil {
		return nil, err
	}
	at := o.PaidAt
	if at.IsZero() {
		at = now
	}
	ts := at.UTC().Format("2006-01-02T15:04:05.000Z")
	m := simMoney{CurrencyCode: o.Currency, Value: value}
	ev := simEvent{
		ID: o.EventID, EventVersion: "1.0", CreateTime: ts, ResourceVersion: "2.0",
		EventType: "PAYMENT.CAPTURE." + o.Status,
		Links:     []simLink{{Href: "https://" + sandboxHost + "/v1/notifications/webhooks-events/" + o.EventID, Rel: "self", Method: "GET"}},
	}
	if o.Status == "REFUNDED" {
		ev.ResourceType, ev.Summary = "refund", "A "+value+" "+o.Currency+" capture payment was refunded"
		ev.Resource = simRefund{
			ID: refundID(o), Status: "COMPLETED", Amount: m, CustomID: o.OutTradeNo, CreateTime: ts, UpdateTime: ts,
			Links: []simLink{
				{Href: "https://" + sandboxHost + "/v2/payments/refunds/" + refundID(o), Rel: "self", Method: "GET"},
				{Href: "https://" + sandboxHost + capturesPath + o.TransactionID, Rel: "up", Method: "GET"},
			},
		}
	} else {
		ev.ResourceType, ev.Summary = "capture", "Payment "+strings.ToLower(o.Status)+" for "+value+" "+o.Currency
		ev.Resource = renderCapture(o, o.Status, m, ts)
	}
	return json.Marshal(ev)
}

func renderCapture(o *sandbox.Order, status string, m simMoney, ts string) simCapture {
	return simCapture{
		ID: o.TransactionID, Status: status, Amount: m, FinalCapture: true, CustomID: o.OutTradeNo,
		SupplementaryData: map[string]any{"related_ids": map[string]string{"order_id": "O" + o.TransactionID}},
		CreateTime:        ts, UpdateTime: ts,
		Links: []simLink{{Href: "https://" + sandboxHost + capturesPath + o.TransactionID, Rel: "self", Method: "GET"}},
	}
}

// refundID is stable per order, so every build of one refund event names
// the same refund.
func refundID(o *sandbox.Order) string { return "RF" + o.TransactionID }

// Mount implements provider.Sandbox: PayPal's token, verify and capture
// APIs under /paypal.
func (s *sim) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
	mux.HandleFunc("POST /paypal"+tokenPath, s.serveToken)
	mux.HandleFunc("POST /paypal"+verifyPath, s.serveVerify)
	mux.HandleFunc("GET /paypal"+capturesPath+"{id}", func(w http.ResponseWriter, r *http.Request) {
		s.serveCapture(w, r, book)
	})
}

// tokenLife is what PayPal's token answers say (9 hours).
const tokenLife = 32400 * time.Second

func (s *sim) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.clientID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.secret))
	if !ok || idOK&secretOK != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client Authentication failed"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	tok := s.tokens.issue(time.Now().Add(tokenLife))
	s.logf("paypal sandbox: issued an OAuth token")
	writeJSON(w, http.StatusOK, map[string]any{
		"scope": "https://uri.paypal.com/services/payments/payment", "access_token": tok,
		"token_type": "Bearer", "app_id": "APP-SANDBOX", "expires_in": int(tokenLife / time.Second),
	})
}

// verifyRequestIn is verify-webhook-signature's request as PayPal reads
// it; webhook_event keeps the exact bytes the caller embedded.
type verifyRequestIn struct {
	verifyRequest
	WebhookEvent json.RawMessage `json:"webhook_event"`
}

// serveVerify checks the transmission as PayPal does: the CRC32 scheme over
// the embedded event's bytes, with the sandbox's certificate and the
// request's webhook id.
func (s *sim) serveVerify(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var in verifyRequestIn
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || len(in.WebhookEvent) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"name": "VALIDATION_ERROR", "message": "Invalid request - see details"})
		return
	}
	status := "FAILURE"
	t := &transmission{ID: in.TransmissionID, TimeRaw: in.TransmissionTime, SigRaw: in.TransmissionSig, CertURL: in.CertURL, AuthAlg: in.AuthAlgo}
	var err error
	t.Time, err = time.Parse(time.RFC3339Nano, t.TimeRaw)
	if err == nil {
		t.Sig, err = base64.StdEncoding.DecodeString(t.SigRaw)
	}
	if err == nil && t.AuthAlg == AuthAlgo && verifySignature(context.Background(), pinnedCert{s.cert}, t, in.WebhookID, in.WebhookEvent) == nil {
		status = "SUCCESS"
	}
	s.logf("paypal sandbox: verify-webhook-signature %s", status)
	writeJSON(w, http.StatusOK, map[string]string{"verification_status": status})
}

func (s *sim) serveCapture(w http.ResponseWriter, r *http.Request, book *sandbox.OrderBook) {
	if !s.authorized(w, r) {
		return
	}
	o, ok := book.FindTransaction(Name, r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist."})
		return
	}
	value, err := FormatAmount(o.QueryAmount, o.Currency)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"name": "INTERNAL_SERVER_ERROR"})
		return
	}
	ts := o.PaidAt.UTC().Format("2006-01-02T15:04:05Z")
	s.logf("paypal sandbox: capture %s is %s", o.TransactionID, o.QueryStatus)
	writeJSON(w, http.StatusOK, renderCapture(&o, o.QueryStatus, simMoney{CurrencyCode: o.Currency, Value: value}, ts))
}

// authorized checks the bearer token an API call carries.
func (s *sim) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.tokens.valid(tok) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "Token signature verification failed"})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // plain maps and structs of strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// tokenBook holds the tokens the sandbox issued, bounded.
type tokenBook struct {
	mu     sync.Mutex
	tokens map[string]time.Time
	issued atomic.Int64
}

const maxSandboxTokens = 1024

func newTokenBook() *tokenBook { return &tokenBook{tokens: map[string]time.Time{}} }

func (b *tokenBook) issue(expires time.Time) string {
	tok := "A21AA" + string(sandbox.RandomSecret(60))
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.tokens) >= maxSandboxTokens {
		clear(b.tokens) // a sandbox: callers fetch a new token on 401
	}
	b.tokens[tok] = expires
	b.issued.Add(1)
	return tok
}

func (b *tokenBook) valid(tok string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	exp, ok := b.tokens[tok]
	return ok && time.Now().Before(exp)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pkixName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"payguard sandbox"}}
}

func randSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)) // never fails (Go 1.24+)
	return n.Add(n, big.NewInt(1))
}
