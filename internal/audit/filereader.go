package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// MaxLineBytes bounds one line a reader accepts: a record holds at most a
// max_body-sized body (64KiB by default) escaped as JSON; a longer line is
// skipped, counted, not buffered without bound.
const MaxLineBytes = 4 << 20

// FileReader reads an audit file written by FileSink, and the files
// logrotate made of it: path.1, path.2.gz, path-20260102, ... (any sibling
// named path.* or path-*, plain or gzip, oldest first by modification time).
type FileReader struct {
	Path string
	// Poll is how often Tail's follow looks for new lines (default 250ms);
	// a file has no wake-up like Redis's XREAD BLOCK.
	Poll time.Duration
	// Skipped counts lines that were not records (a crash's cut line,
	// another program's output) or longer than MaxLineBytes.
	Skipped int
}

// Files lists the file and its rotated siblings, oldest first. A missing
// current file is not an error when rotated siblings exist (rotation in
// progress); no file at all is.
func (fr *FileReader) Files() ([]string, error) {
	var rotated []string
	for _, pat := range []string{fr.Path + ".*", fr.Path + "-*"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", fr.Path, err)
		}
		rotated = append(rotated, m...)
	}
	type aged struct {
		path string
		mod  time.Time
	}
	var files []aged
	for _, p := range rotated {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			files = append(files, aged{p, fi.ModTime()})
		}
	}
	sort.SliceStable(files, func(i, j int) bool {
		if !files[i].mod.Equal(files[j].mod) {
			return files[i].mod.Before(files[j].mod)
		}
		return rotationIndex(files[i].path) > rotationIndex(files[j].path)
	})
	out := make([]string, 0, len(files)+1)
	for _, f := range files {
		out = append(out, f.path)
	}
	if _, err := os.Stat(fr.Path); err == nil {
		out = append(out, fr.Path)
	} else if len(out) == 0 {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return out, nil
}

// rotationIndex orders siblings with the same modification time: a higher
// logrotate number is older.
func rotationIndex(p string) int {
	ext := strings.TrimSuffix(filepath.Ext(strings.TrimSuffix(p, ".gz")), ".gz")
	n := 0
	for _, c := range strings.TrimPrefix(ext, ".") {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Scan visits every record of every file, oldest file first, that passes f.
func (fr *FileReader) Scan(ctx context.Context, f Filter, visit Visit) error {
	files, err := fr.Files()
	if err != nil {
		return err
	}
	for _, p := range files {
		if err := fr.scanFile(ctx, p, f, visit); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (fr *FileReader) scanFile(ctx context.Context, path string, f Filter, visit Visit) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer file.Close()
	var r io.Reader = file
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(file)
		if err != nil {
			return fmt.Errorf("audit: %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	lr := lineReader{r: bufio.NewReaderSize(r, 64<<10), skipped: &fr.Skipped}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := lr.next()
		if err == io.EOF {
			// A last line without its newline: a record being written,
			// or the end of a crash; read it for what it is.
			if len(lr.pending) > 0 {
				return fr.visitLine(lr.pending, f, visit)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: %s: %w", path, err)
		}
		if err := fr.visitLine(line, f, visit); err != nil {
			return err
		}
	}
}

func (fr *FileReader) visitLine(line []byte, f Filter, visit Visit) error {
	rec, err := Decode(line)
	if err != nil {
		fr.Skipped++
		return nil
	}
	if !f.Match(rec) {
		return nil
	}
	return visit(rec)
}

// Tail visits the last n records of the current file that pass f; with
// follow, it then visits every new one as it is appended, across a
// rotation (the file renamed and recreated, or truncated in place), until
// ctx ends.
func (fr *FileReader) Tail(ctx context.Context, f Filter, n int, follow bool, visit Visit) error {
	file, err := os.Open(fr.Path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer func() { file.Close() }()
	var last []*Record
	keep := func(r *Record) error {
		if n > 0 {
			if len(last) == n {
				last = append(last[:0], last[1:]...)
			}
			last = append(last, r)
		}
		return nil
	}
	lr := &lineReader{r: bufio.NewReaderSize(file, 64<<10), skipped: &fr.Skipped}
	for {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("audit: %s: %w", fr.Path, err)
		}
		fr.visitLine(line, f, keep)
	}
	if !follow && len(lr.pending) > 0 {
		fr.visitLine(lr.pending, f, keep)
	}
	for _, r := range last {
		if err := visit(r); err != nil {
			return stopIsNil(err)
		}
	}
	if !follow {
		return nil
	}
	return stopIsNil(fr.follow(ctx, file, lr, f, visit))
}

// follow reads what is appended to the open file; when the path names
// another file (renamed away and recreated) it finishes the old one and
// moves to the new, and when the file shrank (copytruncate) it starts
// again at its beginning.
func (fr *FileReader) follow(ctx context.Context, file *os.File, lr *lineReader, f Filter, visit Visit) error {
	poll := fr.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	defer func() { file.Close() }() // the file followed last
	for {
		line, err := lr.next()
		if err == nil {
			if err := fr.visitLine(line, f, visit); err != nil {
				return err
			}
			continue
		}
		if err != io.EOF {
			return fmt.Errorf("audit: %s: %w", fr.Path, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		next, err := fr.rotated(file)
		if err != nil {
			return err
		}
		if next != nil {
			// What the old file still held was read above: at EOF.
			old := file
			file = next
			old.Close()
			*lr = lineReader{r: bufio.NewReaderSize(file, 64<<10), skipped: &fr.Skipped}
		}
	}
}

// rotated returns the file to continue with when the path was rotated
// (nil when it was not): the new file at the path, or the same file
// rewound when it was truncated.
func (fr *FileReader) rotated(file *os.File) (*os.File, error) {
	cur, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	at, err := os.Stat(fr.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // renamed away, not recreated yet
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if !os.SameFile(cur, at) {
		next, err := os.Open(fr.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return next, err
	}
	pos, err := file.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if at.Size() < pos {
		// Truncated in place: reopen so the buffered reader starts clean.
		return os.Open(fr.Path)
	}
	return nil, nil
}

// lineReader yields complete lines; a line not yet ended at EOF stays in
// pending and is continued by the next call (the writer is mid-append). A
// line longer than MaxLineBytes is dropped and counted.
type lineReader struct {
	r       *bufio.Reader
	pending []byte
	tooLong bool
	skipped *int
}

func (lr *lineReader) next() ([]byte, error) {
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if !lr.tooLong {
			lr.pending = append(lr.pending, chunk...)
			if len(lr.pending) > MaxLineBytes {
				lr.tooLong, lr.pending = true, lr.pending[:0]
			}
		}
		switch {
		case err == nil:
			if lr.tooLong {
				lr.tooLong = false
				*lr.skipped++
				continue
			}
			line := bytes.TrimSuffix(lr.pending, []byte("\n"))
			out := append([]byte(nil), line...)
			lr.pending = lr.pending[:0]
			if len(bytes.TrimSpace(out)) == 0 {
				continue
			}
			return out, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

func stopIsNil(err error) error {
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}
