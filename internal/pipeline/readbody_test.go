package pipeline

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/payguard/payguard/internal/reason"
)

// TestReadBodyDeclaredLengthIsOnlyAHint: readBody sizes its buffer from
// the declared Content-Length, but what it returns is what the reader
// gave, the same as reading it whole under the limit, whether the
// declaration is right, too small, too large or absent, and however the
// reader splits its data.
func TestReadBodyDeclaredLengthIsOnlyAHint(t *testing.T) {
	const max = 1000
	body := strings.Repeat("0123456789", 70) // 700 bytes
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
		"data+EOF": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	for _, size := range []int{0, 1, 511, 512, 513, 700, max - 1, max, max + 1, 3 * max} {
		in := body
		for len(in) < size {
			in += body
		}
		in = in[:size]
		for _, declared := range []int64{-1, 0, int64(size) - 1, int64(size), int64(size) + 1, max, max + 1, 1 << 40} {
			for name, reader := range readers {
				got, err := readBody(reader(in), max, declared)
				if size > max {
					if reason.CodeOf(err, "") != reason.BodyTooLarge || got != nil {
						t.Errorf("%d bytes declared %d (%s): %q, %v; want body_too_large", size, declared, name, got, err)
					}
					continue
				}
				if err != nil || string(got) != in {
					t.Errorf("%d bytes declared %d (%s): %d bytes, %v; want the body", size, declared, name, len(got), err)
				}
			}
		}
	}
}

// TestReadBodyLargeDeclared: a declared length over maxBodyHint is read
// all the same (the buffer grows past the hint), and one that is a lie
// allocates no more than the hint.
func TestReadBodyLargeDeclared(t *testing.T) {
	const max = 1 << 20
	big := strings.Repeat("x", 5*maxBodyHint)
	for _, declared := range []int64{int64(len(big)), max, -1} {
		got, err := readBody(iotest.HalfReader(strings.NewReader(big)), max, declared)
		if err != nil || string(got) != big {
			t.Errorf("declared %d: %d bytes, %v; want %d", declared, len(got), err, len(big))
		}
	}
	got, err := readBody(strings.NewReader("short"), max, max)
	if err != nil || string(got) != "short" || cap(got) > maxBodyHint+1 {
		t.Errorf("declared %d, sent 5: %q (cap %d), %v", max, got, cap(got), err)
	}
}

// TestReadBodyErrors: a MaxBytesReader's limit is body_too_large, any other
// read error malformed, and no body comes back with either.
func TestReadBodyErrors(t *testing.T) {
	limited := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), 10)
	if got, err := readBody(limited, 1000, -1); reason.CodeOf(err, "") != reason.BodyTooLarge || got != nil {
		t.Errorf("MaxBytesReader: %q, %v; want body_too_large", got, err)
	}
	broken := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errors.New("connection reset")))
	if got, err := readBody(broken, 1000, 100); reason.CodeOf(err, "") != reason.Malformed || got != nil {
		t.Errorf("read error: %q, %v; want malformed", got, err)
	}
	if got, err := readBody(nil, 1000, -1); err != nil || got != nil {
		t.Errorf("no body: %q, %v", got, err)
	}
}
