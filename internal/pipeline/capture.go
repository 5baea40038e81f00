package pipeline

import (
	"net/http"
	"strconv"
)

// Capture is an http.ResponseWriter that takes the shop's answer for a
// Forwarder, so payguard decides the provider's acknowledgement from it:
// the status (the first final one; 200 when none was written), the
// headers and the first MaxAnswerBody bytes of the body. The shop's body
// never reaches the provider.
type Capture struct {
	header http.Header
	code   int
	body   []byte
}

// NewCapture is an empty Capture.
func NewCapture() *Capture { return &Capture{header: http.Header{}} }

// Header implements http.ResponseWriter.
func (c *Capture) Header() http.Header { return c.header }

// Write implements http.ResponseWriter: everything is accepted, only the
// first MaxAnswerBody bytes are kept.
func (c *Capture) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if room := MaxAnswerBody - len(c.body); room > 0 {
		c.body = append(c.body, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

// WriteHeader implements http.ResponseWriter: an informational status
// gives way to the final one, a final one stays.
func (c *Capture) WriteHeader(code int) {
	if c.code == 0 || c.code < 200 {
		c.code = code
	}
}

// Answer is what was captured.
func (c *Capture) Answer() Answer {
	a := Answer{Status: c.code, Header: c.header, Body: c.body}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	return a
}

var _ http.ResponseWriter = (*Capture)(nil)

// Send writes the answer to the provider on w: its headers, its
// Content-Length, the status and the body; nothing when the Forwarder
// already wrote the shop's own answer (Written).
func (r *Response) Send(w http.ResponseWriter) {
	if r.Written {
		return
	}
	for k, v := range r.Header {
		w.Header()[k] = v
	}
	if len(r.Body) > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(r.Body)))
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write(r.Body)
}
