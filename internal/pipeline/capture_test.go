package pipeline

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCapture(t *testing.T) {
	// Nothing written: 200, no body.
	if a := NewCapture().Answer(); a.Status != http.StatusOK || len(a.Body) != 0 {
		t.Errorf("empty: %+v", a)
	}
	// A body without a status is 200.
	c := NewCapture()
	c.Write([]byte("success"))
	if a := c.Answer(); a.Status != http.StatusOK || string(a.Body) != "success" {
		t.Errorf("body only: %d %q", a.Status, a.Body)
	}
	// 103 gives way to the final status; a second final one does not.
	c = NewCapture()
	c.Header().Set("X-Shop", "1")
	c.WriteHeader(http.StatusEarlyHints)
	c.WriteHeader(http.StatusInternalServerError)
	c.WriteHeader(http.StatusOK)
	if a := c.Answer(); a.Status != http.StatusInternalServerError || a.Header.Get("X-Shop") != "1" {
		t.Errorf("statuses: %d %v", a.Status, a.Header)
	}
	// A long body is cut at MaxAnswerBody, every write still accepted.
	c = NewCapture()
	chunk := bytes.Repeat([]byte("x"), MaxAnswerBody/2+1)
	for i := 0; i < 3; i++ {
		if n, err := c.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if a := c.Answer(); len(a.Body) != MaxAnswerBody {
		t.Errorf("kept %d bytes, want %d", len(a.Body), MaxAnswerBody)
	}
}

func TestResponseSend(t *testing.T) {
	rec := httptest.NewRecorder()
	r := &Response{Status: http.StatusForbidden, Header: http.Header{HeaderReason: {"bad_signature"}}, Body: []byte(`{"code":"FAIL"}`)}
	r.Send(rec)
	if rec.Code != http.StatusForbidden || rec.Header().Get(HeaderReason) != "bad_signature" ||
		rec.Header().Get("Content-Length") != "15" || rec.Body.String() != `{"code":"FAIL"}` {
		t.Errorf("sent %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	// No body: no Content-Length set here.
	rec = httptest.NewRecorder()
	(&Response{Status: http.StatusNoContent}).Send(rec)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Content-Length") != "" {
		t.Errorf("empty: %d %v", rec.Code, rec.Header())
	}
	// Already written by the Forwarder: nothing more.
	rec = httptest.NewRecorder()
	rec.WriteHeader(http.StatusAccepted)
	(&Response{Status: http.StatusInternalServerError, Body: []byte("x"), Written: true}).Send(rec)
	if rec.Code != http.StatusAccepted || rec.Body.Len() != 0 {
		t.Errorf("written twice: %d %q", rec.Code, rec.Body)
	}
}
