package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Replacer resolves placeholders ({env.NAME}, {file./path}) in an option's
// value; the glue hands Caddy's, tests the identity.
type Replacer func(string) (string, error)

// Settings are the handler's options a provider is built with.
type Settings struct {
	Tolerance     time.Duration
	MaxAge        time.Duration
	QueryEndpoint string
	QueryTimeout  time.Duration
	Now           func() time.Time
	Warn          func(string)
}

// Resolve checks v against the spec's table and rules, resolves every
// value (placeholders replaced, files read, Parse applied) and returns the
// Env to Build with. Errors name the option, never a secret's value.
func (s *Spec) Resolve(v Values, repl Replacer, set Settings) (*Env, error) {
	if repl == nil {
		repl = func(x string) (string, error) { return x, nil }
	}
	if err := s.CheckTable(v); err != nil {
		return nil, err
	}
	e := &Env{
		strings: map[string]string{}, bytes: map[string][]byte{},
		files: map[string][][]byte{}, lists: map[string][]string{},
		Tolerance: set.Tolerance, MaxAge: set.MaxAge, QueryEndpoint: set.QueryEndpoint,
		HTTPClient: NewHTTPClient(set.QueryTimeout), Now: set.Now, Warn: set.Warn,
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Warn == nil {
		e.Warn = func(string) {}
	}
	// Every option is resolved, and every failure reported at once: an
	// operator who forgot three {env.X} variables learns of all three from
	// one failed start, each with its option's name.
	var errs []error
	if set.QueryEndpoint != "" {
		ep, err := repl(set.QueryEndpoint)
		if err != nil {
			errs = append(errs, fmt.Errorf("query endpoint: %v", err))
		}
		e.QueryEndpoint = ep
	}
	for _, o := range s.Options {
		if err := e.resolveOption(o, v, repl); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		e.Clear()
		return nil, err
	}
	return e, nil
}

func (e *Env) resolveOption(o Option, v Values, repl Replacer) error {
	switch o.Kind {
	case KindString, KindEnum:
		raw := v.Get(o.JSONKey())
		if raw == "" {
			return nil
		}
		val, err := o.resolve(raw, repl)
		if err != nil {
			return fmt.Errorf("%s: %v", o.Name, err)
		}
		if o.Kind == KindEnum && !contains(o.Values, val) {
			return fmt.Errorf("%s must be one of %v", o.Name, o.Values)
		}
		if err := parseWith(o, o.Name, []byte(val)); err != nil {
			return err
		}
		e.strings[o.Name] = val
	case KindSecret:
		if in := v.Get(o.JSONKey()); in != "" {
			val, err := repl(in)
			if err != nil {
				return fmt.Errorf("%s: %v", o.Name, err)
			}
			if err := parseWith(o, o.Name, []byte(val)); err != nil {
				return err
			}
			e.bytes[o.Name] = []byte(val)
		} else if f := v.Get(o.FileKey()); f != "" {
			b, err := ReadOptionFile(o.Name+"_file", f, repl)
			if err != nil {
				return err
			}
			if err := parseWith(o, o.Name+"_file", b); err != nil {
				return err
			}
			e.bytes[o.Name] = b
		}
	case KindFile:
		if f := v.Get(o.JSONKey()); f != "" {
			b, err := ReadOptionFile(o.Name, f, repl)
			if err != nil {
				return err
			}
			if err := parseWith(o, o.Name, b); err != nil {
				return err
			}
			e.bytes[o.Name] = b
		}
	case KindFiles:
		for _, f := range v[o.JSONKey()] {
			b, err := ReadOptionFile(o.Name, f, repl)
			if err != nil {
				return err
			}
			if err := parseWith(o, o.Name, b); err != nil {
				return err
			}
			e.files[o.Name] = append(e.files[o.Name], b)
		}
	case KindList:
		for _, a := range v[o.JSONKey()] {
			val, err := o.resolve(a, repl)
			if err != nil {
				return fmt.Errorf("%s: %v", o.Name, err)
			}
			if err := parseWith(o, o.Name, []byte(val)); err != nil {
				return err
			}
			e.lists[o.Name] = append(e.lists[o.Name], val)
		}
	}
	return nil
}

// resolve replaces the placeholders in a string or list value, unless the
// option takes its value literally.
func (o Option) resolve(v string, repl Replacer) (string, error) {
	if o.Literal && (o.Kind == KindString || o.Kind == KindList) {
		return v, nil
	}
	return repl(v)
}

func parseWith(o Option, spelled string, b []byte) error {
	if o.Parse == nil {
		return nil
	}
	if err := o.Parse(b); err != nil {
		return fmt.Errorf("%s: %v", spelled, err)
	}
	return nil
}

// ReadOptionFile reads the file an option names, placeholders in the path
// resolved; the error names the option and the path, never the content.
func ReadOptionFile(opt, path string, repl Replacer) ([]byte, error) {
	p := path
	if repl != nil {
		var err error
		if p, err = repl(path); err != nil {
			return nil, fmt.Errorf("%s: %v", opt, err)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: cannot read %s: %v", opt, p, err)
	}
	return b, nil
}

// Outgoing-call policy (DESIGN.md section 2): every call payguard makes is
// bounded in time and in the answer it reads, follows no redirect, and
// carries the trace context.
const (
	// DefaultQueryTimeout bounds a call when the route sets none.
	DefaultQueryTimeout = 3 * time.Second
	// MaxAnswer is the most of an answer payguard reads.
	MaxAnswer = 1 << 20
)

// ErrRedirect is returned for an answer that redirects: a signed request
// goes to the configured host or nowhere.
var ErrRedirect = errors.New("the endpoint answered with a redirect, which payguard never follows")

// ErrAnswerTooLarge is returned when reading past MaxAnswer bytes.
var ErrAnswerTooLarge = fmt.Errorf("the answer is larger than %d bytes", MaxAnswer)

// NewHTTPClient is the one outgoing client policy for every provider.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return NewHTTPClientOver(queryTransport, timeout)
}

// NewHTTPClientOver is NewHTTPClient's policy over another transport
// (benchmarks and tests: a canned gateway in place of the network).
//
// The timeout bounds each request, its answer's body included, as
// http.Client.Timeout would, but as a deadline on the request's context
// set by the client's own transport: with Client.Timeout and a transport
// that is not net/http's own, net/http starts a goroutine and a timer per
// request (and the transport a second goroutine for the legacy cancel
// channel). ClientTimeout reads it back.
func NewHTTPClientOver(next http.RoundTripper, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	return &http.Client{
		Transport:     boundedTransport{next: next, timeout: timeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return ErrRedirect },
	}
}

// ClientTimeout is how long one request of c may take: NewHTTPClient's
// timeout, or c's own Timeout for another client; 0 for none.
func ClientTimeout(c *http.Client) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	if t, ok := c.Transport.(boundedTransport); ok {
		return t.timeout
	}
	return 0
}

// MaxIdleQueryConns is how many idle connections to one provider host
// the query client keeps. http.DefaultTransport keeps 2, so with more
// than two queries at once every other query paid a new TCP (and, to a
// real provider, TLS) handshake, and left a socket in TIME_WAIT.
const MaxIdleQueryConns = 64

// queryTransport is every provider client's transport: Go's default
// (proxy from the environment, dial and TLS timeouts, HTTP/2) with room
// for the connections concurrent queries to one host use.
var queryTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = MaxIdleQueryConns
	return t
}()

// boundedTransport bounds each request by the client's timeout, injects
// the trace context and caps the answer's size.
type boundedTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// The deadline holds until the answer's body is closed, as
	// Client.Timeout's does; an earlier deadline of the caller's stays.
	ctx, cancel := context.WithTimeout(r.Context(), t.timeout)
	if trace.SpanContextFromContext(ctx).IsValid() {
		r = r.Clone(ctx)
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(r.Header))
	} else {
		// Only a request in a trace gets a header (Inject sets nothing
		// otherwise): the others need no copy of their headers.
		r = r.WithContext(ctx)
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: MaxAnswer, cancel: cancel}
	return resp, nil
}

// cappedBody fails a read past the cap instead of truncating silently: a
// cut JSON or XML answer must not parse as a shorter valid one. Closing it
// ends the request's deadline.
type cappedBody struct {
	rc     io.ReadCloser
	left   int64
	cancel context.CancelFunc
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.rc.Read(one[:]); n > 0 {
			return 0, ErrAnswerTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cappedBody) Close() error {
	err := c.rc.Close()
	c.cancel()
	return err
}

// BuildFromSettings builds the provider a handler block of these settings
// configures (a sandbox's Settings): the conformance suites and tests use
// it to verify a sandbox's notifications with the real verifier. The
// query endpoint setting becomes set.QueryEndpoint.
func (s *Spec) BuildFromSettings(settings []Setting, set Settings) (Built, error) {
	v := Values{}
	for _, st := range settings {
		if st.Query && st.Name == "endpoint" {
			set.QueryEndpoint = st.Args[0]
			continue
		}
		opt, file, ok := s.Option(st.Name, st.Query)
		if !ok {
			// A handler option (claim_lease, ...) is not the provider's.
			continue
		}
		key := opt.JSONKey()
		if file {
			key = opt.FileKey()
		}
		v[key] = st.Args
	}
	return s.BuildFrom(v, nil, set)
}

// BuildFrom resolves v (Resolve) and builds the provider, clearing the
// resolved secrets once the provider holds its parsed copy.
func (s *Spec) BuildFrom(v Values, repl Replacer, set Settings) (Built, error) {
	env, err := s.Resolve(v, repl, set)
	if err != nil {
		return Built{}, err
	}
	defer env.Clear()
	return s.Build(env)
}
