package provider

import (
	"io"
	"net/http"
)

// ReadLimited reads resp's body as io.ReadAll(io.LimitReader(resp.Body,
// limit+1)) does, bytes and error alike (limit+1 bytes at most, so the
// caller can tell an answer that is too large), into one buffer sized by
// the declared Content-Length when that is within limit, instead of one
// grown from 512 bytes with a copy per doubling. A Content-Length that is
// absent, or larger than limit, starts at 512 bytes, as io.ReadAll does:
// the buffer never grows past what was read.
func ReadLimited(resp *http.Response, limit int64) ([]byte, error) {
	size := int64(512)
	if cl := resp.ContentLength; cl >= 0 && cl < limit {
		size = cl + 1 // the read that finds the end needs the room too
	}
	return readAll(io.LimitReader(resp.Body, limit+1), size)
}

// readAll is io.ReadAll starting from a buffer of size bytes.
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}
