package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrClosed is returned by Write on a closed sink.
var ErrClosed = errors.New("audit: sink closed")

// FileSink appends records as JSON lines to a file.
type FileSink struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// NewFileSink opens path for appending, creating it with mode 0600 (audit
// bodies are payment data) if it does not exist; an existing file keeps its
// mode. The directory must exist. Every record is one write(2) to an
// O_APPEND descriptor, so lines from several processes sharing the file
// (two payguard instances, a reload overlapping the old config) do not
// interleave.
func NewFileSink(path string) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	return &FileSink{f: f, path: path}, nil
}

// Write appends r as one line.
func (s *FileSink) Write(_ context.Context, r *Record) error {
	line, err := marshalLine(r)
	if err != nil {
		return fmt.Errorf("audit: encode record: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	if _, err := s.f.Write(line); err != nil {
		return fmt.Errorf("audit: write %s: %w", s.path, err)
	}
	return nil
}

// Close closes the file; it is safe to call more than once.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
