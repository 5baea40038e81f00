package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/payguard/payguard/internal/provider"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Book is the order book; a new one when nil. Share one book between
	// servers that must know the same orders.
	Book *OrderBook
	// Providers are the simulated providers whose query APIs are served.
	Providers []*Provider
	// Now is the clock of the control API; time.Now when nil.
	Now func() time.Time
	// Logf, when set, is told about every order registered.
	Logf func(format string, args ...any)
}

// Open is the sandbox of the keys in dir: every provider whose keys are
// there, around book (a new one when nil), logf told about the keys'
// parameters and every order registered. Errors name files, never key
// bytes.
func Open(dir string, book *OrderBook, logf func(format string, args ...any)) (*Server, error) {
	providers, err := Load(dir, provider.SandboxOptions{Logf: logf})
	if err != nil {
		return nil, err
	}
	return NewServer(ServerConfig{Book: book, Providers: providers, Logf: logf})
}

// Server is the sandbox: each provider's query API under its prefix
// (each under /<provider>/)
// and the control API the CLI uses:
//
//	POST /_sim/orders     register (or update) an order: Order as JSON
//	GET  /_sim/orders     every order the sandbox knows, oldest first
//	GET  /_sim/providers  the providers, their query endpoints and tamper fields
//
// It is a plain http.Handler, safe for concurrent use.
type Server struct {
	book      *OrderBook
	providers map[string]*Provider
	names     []string
	mux       *http.ServeMux
	now       func() time.Time
	logf      func(string, ...any)
}

// NewServer builds the sandbox. Two providers with one name are an error.
func NewServer(cfg ServerConfig) (s *Server, err error) {
	s = &Server{
		book:      cfg.Book,
		providers: map[string]*Provider{},
		mux:       http.NewServeMux(),
		now:       cfg.Now,
		logf:      cfg.Logf,
	}
	if s.book == nil {
		s.book = NewOrderBook()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	// ServeMux panics on conflicting patterns; a provider added later that
	// collides with another must fail as a configuration error instead.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("sim: conflicting provider routes: %v", r)
		}
	}()
	for _, p := range cfg.Providers {
		if p == nil {
			return nil, errors.New("sim: nil provider")
		}
		if _, dup := s.providers[p.Name()]; dup {
			return nil, fmt.Errorf("sim: provider %s given twice", p.Name())
		}
		s.providers[p.Name()] = p
		s.names = append(s.names, p.Name())
		p.Mount(s.mux, s.book)
	}
	sort.Strings(s.names)
	s.mux.HandleFunc("POST /_sim/orders", s.postOrder)
	s.mux.HandleFunc("GET /_sim/orders", s.listOrders)
	s.mux.HandleFunc("GET /_sim/providers", s.listProviders)
	return s, nil
}

// Book is the server's order book.
func (s *Server) Book() *OrderBook { return s.book }

// Provider returns the provider of that name.
func (s *Server) Provider(name string) (*Provider, bool) {
	p, ok := s.providers[name]
	return p, ok
}

// Names lists the providers, sorted.
func (s *Server) Names() []string { return append([]string(nil), s.names...) }

// ServeHTTP serves the query APIs and the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Handles reports whether r's path is one of the server's routes (with
// any method), so an embedding handler can pass other requests on.
func (s *Server) Handles(r *http.Request) bool {
	// ServeMux reports both a miss and a method mismatch with an empty
	// pattern, so the path is tried with each method the routes use: a
	// GET on the gateway is still the sandbox's to refuse with 405.
	probe := *r
	for _, m := range []string{r.Method, http.MethodGet, http.MethodPost} {
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" {
			return true
		}
	}
	return false
}

// maxOrderBody bounds a control API request.
const maxOrderBody = 64 << 10

func (s *Server) postOrder(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOrderBody))
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "order too large or unreadable")
		return
	}
	o, err := DecodeOrder(body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, ok := s.providers[o.Provider]
	if !ok {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("provider %q is not simulated here (have %v)", clip(o.Provider), s.names))
		return
	}
	if err := p.Prepare(&o, s.now()); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.book.Put(o)
	s.logf("order registered: %s out_trade_no=%s amount=%d %s status=%s (query answers %s %d)",
		o.Provider, o.OutTradeNo, o.Amount, o.Currency, o.Status, o.QueryStatus, o.QueryAmount)
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) listOrders(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.book.List())
}

// ProviderInfo describes a simulated provider (GET /_sim/providers).
type ProviderInfo struct {
	Name       string   `json:"name"`
	Currency   string   `json:"currency"`
	Tamperable []string `json:"tamperable"`
}

func (s *Server) listProviders(w http.ResponseWriter, _ *http.Request) {
	out := make([]ProviderInfo, 0, len(s.names))
	for _, n := range s.names {
		p := s.providers[n]
		out = append(out, ProviderInfo{Name: n, Currency: p.Currency(), Tamperable: p.Tamperable()})
	}
	writeJSON(w, http.StatusOK, out)
}

// DecodeOrder parses the control API's order JSON: one object, known
// fields only, nothing after it. It checks the syntax; the provider's
// Prepare checks the values.
func DecodeOrder(b []byte) (Order, error) {
	var o Order
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return Order{}, fmt.Errorf("order JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Order{}, errors.New("order JSON: data after the object")
	}
	return o, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "sandbox: cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
