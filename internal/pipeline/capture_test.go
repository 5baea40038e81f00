package pipeline

import (
	"bytes"
	"net/http"
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
