package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/sandbox"
)

// NotifyOptions is one `payguard sim notify` run.
type NotifyOptions struct {
	// Order is the order to notify about. Provider is set from the
	// provider; an empty OutTradeNo gets a fresh one; Prepare fills the
	// rest.
	Order Order
	// To is payguard's notification URL.
	To string
	// Sandbox is the sandbox's base URL; empty skips registering the order.
	Sandbox string
	// Tamper names a field to alter after signing ("" none).
	Tamper string
	// Replay sends the identical notification Replay more times.
	Replay int
	// Client makes the requests; a 10s-timeout client that follows no
	// redirects when nil.
	Client *http.Client
	// Now is the clock the notification is signed with; time.Now when nil.
	Now func() time.Time
	// NoNotify registers the order at the sandbox (paid in its query API)
	// and sends nothing: the lost notification lost-callback recovery
	// finds (DESIGN.md section 11). To may be empty then.
	NoNotify bool
}

// MaxReplay bounds --replay: enough to probe deduplication, not a load test.
const MaxReplay = 1000

// Delivery is payguard's answer to one delivery.
type Delivery struct {
	Status int
	Reason string // the Payguard-Reason header
	Body   []byte // at most 64 KiB of it
	Err    error  // transport error; the other fields are then empty
}

// NotifyResult is what Notify did.
type NotifyResult struct {
	// Order is the prepared order, as registered.
	Order Order
	// Message is the notification, identical in every delivery.
	Message *Message
	// Registered is true when the sandbox accepted the order.
	Registered bool
	// SandboxErr is why the order was not registered when the sandbox
	// could not be reached (the notification is still sent: payguard may
	// run without a query).
	SandboxErr error
	// Deliveries has one entry per attempt, 1 + Replay.
	Deliveries []Delivery
}

// Notify builds the provider's notification for opts.Order, registers the
// order at the sandbox (so the sandbox's query API confirms it, or
// disagrees when QueryAmount/QueryStatus say so), and POSTs the identical
// bytes to opts.To 1 + Replay times.
//
// An unreachable sandbox is not an error (SandboxErr says so); a sandbox
// that refuses the order is, since its query API would then deny an order
// the caller meant to exist.
func Notify(ctx context.Context, p *Provider, opts NotifyOptions) (*NotifyResult, error) {
	if p == nil {
		return nil, errors.New("no provider")
	}
	if err := checkURL("--to", opts.To); err != nil && !opts.NoNotify {
		return nil, err
	}
	if opts.NoNotify && opts.Sandbox == "" {
		return nil, errors.New("--no-notify needs --sandbox: the order exists only in the sandbox's query API")
	}
	if opts.Sandbox != "" {
		if err := checkURL("--sandbox", opts.Sandbox); err != nil {
			return nil, err
		}
	}
	if opts.Replay < 0 || opts.Replay > MaxReplay {
		return nil, fmt.Errorf("replay must be between 0 and %d", MaxReplay)
	}
	if err := sandbox.CheckTamper(p.Name(), p.Tamperable(), opts.Tamper); err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	client := opts.Client
	if client == nil {
		client = NewClient(10 * time.Second)
	}
	t := now()
	o := opts.Order
	o.Provider = p.Name()
	if o.OutTradeNo == "" {
		o.OutTradeNo = NewOutTradeNo(t)
	}
	if err := p.Prepare(&o, t); err != nil {
		return nil, fmt.Errorf("%s: %v", p.Name(), err)
	}
	msg, err := p.BuildNotify(&o, opts.Tamper, t)
	if err != nil {
		return nil, err
	}
	res := &NotifyResult{Order: o, Message: msg}
	if opts.Sandbox != "" {
		registered, err := RegisterOrder(ctx, client, opts.Sandbox, o)
		var unreachable *unreachableError
		switch {
		case errors.As(err, &unreachable):
			res.SandboxErr = err
		case err != nil:
			return nil, err
		default:
			res.Order, res.Registered = registered, true
		}
	}
	if opts.NoNotify {
		if res.SandboxErr != nil {
			return nil, res.SandboxErr
		}
		return res, nil
	}
	for i := 0; i <= opts.Replay; i++ {
		res.Deliveries = append(res.Deliveries, deliver(ctx, client, opts.To, msg))
	}
	return res, nil
}

// NewClient is how the simulator posts, as a provider does: to the
// configured URL only, a redirect shown as the answer it is, never
// followed (following it would test something else).
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func checkURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL", flag, clip(raw))
	}
	return nil
}

// unreachableError marks a sandbox that could not be reached at all.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return "sandbox unreachable: " + e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// RegisterOrder POSTs o to the sandbox's control API and returns the order
// as the sandbox stored it.
func RegisterOrder(ctx context.Context, client *http.Client, sandbox string, o Order) (Order, error) {
	if client == nil {
		client = NewClient(10 * time.Second)
	}
	body, err := json.Marshal(o)
	if err != nil {
		return Order{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(sandbox, "/")+"/_sim/orders", bytes.NewReader(body))
	if err != nil {
		return Order{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Order{}, &unreachableError{err}
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxOrderBody))
	if err != nil {
		return Order{}, &unreachableError{err}
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rb, &e) == nil && e.Error != "" {
			return Order{}, fmt.Errorf("sandbox refused the order: %s", e.Error)
		}
		return Order{}, fmt.Errorf("sandbox refused the order: HTTP %d (is %s a payguard sandbox?)", resp.StatusCode, clip(sandbox))
	}
	var stored Order
	if err := json.Unmarshal(rb, &stored); err != nil {
		return Order{}, fmt.Errorf("sandbox answer: %v", err)
	}
	return stored, nil
}

// deliver sends msg once.
func deliver(ctx context.Context, client *http.Client, to string, msg *Message) Delivery {
	req, err := http.NewRequestWithContext(ctx, msg.Method, to, bytes.NewReader(msg.Body))
	if err != nil {
		return Delivery{Err: err}
	}
	for k, v := range msg.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Delivery{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Delivery{Status: resp.StatusCode, Reason: resp.Header.Get("Payguard-Reason"), Err: err}
	}
	return Delivery{Status: resp.StatusCode, Reason: resp.Header.Get("Payguard-Reason"), Body: b}
}
