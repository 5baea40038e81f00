package provider

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/iotest"
)

// chunked reads its data in pieces of the sizes given, cycling, then
// fails with err (io.EOF for a clean end).
type chunked struct {
	data  []byte
	sizes []byte
	i     int
	err   error
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	n := len(p)
	if len(c.sizes) > 0 {
		n = min(n, int(c.sizes[c.i%len(c.sizes)])+1)
		c.i++
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// checkReadLimited holds ReadLimited to io.ReadAll over io.LimitReader,
// the former reading of every provider's answer, for a body of data read
// in the given pieces and a Content-Length that may lie.
func checkReadLimited(t *testing.T, data, sizes []byte, contentLength, limit int64, fail bool) {
	t.Helper()
	end := io.EOF
	if fail {
		end = errors.New("connection reset")
	}
	resp := &http.Response{ContentLength: contentLength, Body: io.NopCloser(&chunked{data: data, sizes: sizes, err: end})}
	got, err := ReadLimited(resp, limit)
	want, werr := io.ReadAll(io.LimitReader(&chunked{data: data, sizes: sizes, err: end}, limit+1))
	if !bytes.Equal(got, want) || !errors.Is(err, werr) && err != werr {
		t.Fatalf("len %d cl %d limit %d: %d bytes %v, former %d bytes %v", len(data), contentLength, limit, len(got), err, len(want), werr)
	}
	if cap(got) > max(512, 2*len(got)+1) {
		t.Fatalf("a buffer of %d for %d bytes", cap(got), len(got))
	}
}

func TestReadLimitedMatchesReadAll(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 200)
	for _, n := range []int{0, 1, 511, 512, 513, 1024, 3200} {
		for _, cl := range []int64{-1, 0, int64(n) - 1, int64(n), int64(n) + 1, 1 << 30} {
			for _, limit := range []int64{0, 100, 1024, 1 << 20} {
				checkReadLimited(t, data[:n], nil, cl, limit, false)
				checkReadLimited(t, data[:n], []byte{3, 200}, cl, limit, true)
			}
		}
	}
}

func TestReadLimitedOneByteReader(t *testing.T) {
	resp := &http.Response{ContentLength: 5, Body: io.NopCloser(iotest.OneByteReader(bytes.NewReader([]byte("hello"))))}
	if b, err := ReadLimited(resp, 10); string(b) != "hello" || err != nil || cap(b) != 6 {
		t.Fatalf("%q %v cap %d", b, err, cap(b))
	}
}

func FuzzReadLimitedMatchesReadAll(f *testing.F) {
	f.Add([]byte("answer"), []byte{1, 2}, int64(6), int64(1<<20), false)
	f.Add([]byte("answer"), []byte{}, int64(100), int64(3), true)
	f.Fuzz(func(t *testing.T, data, sizes []byte, cl, limit int64, fail bool) {
		if limit < 0 || limit > 1<<16 {
			limit &= 1<<16 - 1
		}
		checkReadLimited(t, data, sizes, cl, limit, fail)
	})
}
