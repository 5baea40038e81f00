package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

// rec is a record of order order, event evt, with an outcome and reason.
func rec(evt, order string, outcome Outcome, code reason.Code) *Record {
	r := sample(0)
	r.EventID, r.OutTradeNo, r.Outcome, r.Reason = evt, order, outcome, code
	r.TransactionID = "txn-" + evt
	return r
}

func writeFile(t *testing.T, path string, recs ...*Record) {
	t.Helper()
	s, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range recs {
		if err := s.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func gzipFile(t *testing.T, path string, recs ...*Record) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, r := range recs {
		line, err := marshalLine(r)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(line)
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func setAge(t *testing.T, path string, age time.Duration) {
	t.Helper()
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func collect(t *testing.T, scan func(Visit) error) []string {
	t.Helper()
	var got []string
	if err := scan(func(r *Record) error { got = append(got, r.EventID); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// find reads the current file and every rotated sibling, gzip included,
// oldest first, and skips lines that are not records.
func TestFileReaderScanAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	gzipFile(t, path+".2.gz", rec("e1", "A", Rejected, reason.BadSignature), rec("e2", "B", Forwarded, reason.Forwarded))
	setAge(t, path+".2.gz", 2*time.Hour)
	writeFile(t, path+".1", rec("e3", "A", Failed, reason.QueryUnavailable))
	// A crash's cut line and a stranger's line between records.
	f, _ := os.OpenFile(path+".1", os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-01-02T03:04:05Z","prov` + "\n" + "not json at all\n")
	f.Close()
	writeFile(t, path+".1", rec("e4", "A", Forwarded, reason.Forwarded))
	setAge(t, path+".1", time.Hour)
	writeFile(t, path, rec("e5", "A", Duplicate, reason.Duplicate), rec("e6", "C", Forwarded, reason.Forwarded))

	fr := &FileReader{Path: path}
	got := collect(t, func(v Visit) error { return fr.Scan(ctx, Filter{OutTradeNo: "A"}, v) })
	if want := "e1 e3 e4 e5"; strings.Join(got, " ") != want {
		t.Fatalf("order A: got %v, want %s", got, want)
	}
	if fr.Skipped != 2 {
		t.Fatalf("skipped %d lines, want 2", fr.Skipped)
	}
	got = collect(t, func(v Visit) error {
		return (&FileReader{Path: path}).Scan(ctx, Filter{Transaction: "txn-e2"}, v)
	})
	if strings.Join(got, " ") != "e2" {
		t.Fatalf("transaction txn-e2: got %v", got)
	}
	got = collect(t, func(v Visit) error {
		return (&FileReader{Path: path}).Scan(ctx, Filter{Outcome: Forwarded, Provider: "alipay"}, v)
	})
	if strings.Join(got, " ") != "e2 e4 e6" {
		t.Fatalf("forwarded: got %v", got)
	}
	if _, err := (&FileReader{Path: filepath.Join(dir, "none.jsonl")}).Files(); err == nil {
		t.Fatal("no audit file at all: want an error")
	}
}

// tail -n prints the last matching records of the current file, then
// follows appends, a rename-and-recreate rotation and a copytruncate.
func TestFileReaderTailFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeFile(t, path,
		rec("e1", "A", Rejected, reason.BadSignature), rec("e2", "A", Forwarded, reason.Forwarded),
		rec("e3", "B", Rejected, reason.BadSignature), rec("e4", "C", Rejected, reason.BadSignature))

	fr := &FileReader{Path: path, Poll: 5 * time.Millisecond}
	got := make(chan string, 16)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- fr.Tail(cctx, Filter{Reason: reason.BadSignature}, 2, true, func(r *Record) error {
			got <- r.EventID
			return nil
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case e := <-got:
			if e != want {
				t.Fatalf("got %s, want %s", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no record %s within 5s", want)
		}
	}
	expect("e3")
	expect("e4")
	writeFile(t, path, rec("e5", "A", Forwarded, reason.Forwarded), rec("e6", "A", Rejected, reason.BadSignature))
	expect("e6")
	// logrotate's default: rename, then the writer recreates the file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, rec("x1", "A", Forwarded, reason.Forwarded), rec("x2", "A", Forwarded, reason.Forwarded),
		rec("e7", "A", Rejected, reason.BadSignature))
	expect("e7") // read up to the end of the new file
	// copytruncate: the same file emptied, then written again (less than
	// it held, so the reader sees it shrink).
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, rec("e8", "A", Rejected, reason.BadSignature))
	expect("e8")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		t.Fatalf("unexpected record %s", e)
	default:
	}
}

// A line longer than MaxLineBytes is skipped, not buffered, and the
// records around it are read.
func TestFileReaderLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeFile(t, path, rec("e1", "A", Forwarded, reason.Forwarded))
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(bytes.Repeat([]byte("x"), MaxLineBytes+10))
	f.WriteString("\n")
	f.Close()
	writeFile(t, path, rec("e2", "A", Forwarded, reason.Forwarded))
	fr := &FileReader{Path: path}
	got := collect(t, func(v Visit) error { return fr.Scan(ctx, Filter{}, v) })
	if strings.Join(got, " ") != "e1 e2" || fr.Skipped != 1 {
		t.Fatalf("got %v, skipped %d", got, fr.Skipped)
	}
}

func TestStreamReader(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.NewClient(t)
	sink := NewRedisStreamSink(client, "payguard:audit")
	for _, r := range []*Record{
		rec("e1", "A", Rejected, reason.BadSignature), rec("e2", "B", Forwarded, reason.Forwarded),
		rec("e3", "A", Forwarded, reason.Forwarded), rec("e4", "A", Duplicate, reason.Duplicate),
	} {
		if err := sink.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	client.XAdd(ctx, &redis.XAddArgs{Stream: "payguard:audit", Values: []any{"other", "x"}})

	sr := &StreamReader{Client: client, Stream: "payguard:audit", Batch: 2, Block: 50 * time.Millisecond}
	got := collect(t, func(v Visit) error { return sr.Scan(ctx, Filter{OutTradeNo: "A"}, v) })
	if strings.Join(got, " ") != "e1 e3 e4" || sr.Skipped != 1 {
		t.Fatalf("order A: got %v, skipped %d", got, sr.Skipped)
	}
	got = collect(t, func(v Visit) error { return sr.Scan(ctx, Filter{EventID: "e2"}, v) })
	if strings.Join(got, " ") != "e2" {
		t.Fatalf("event e2: got %v", got)
	}

	ch := make(chan string, 16)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sr.Tail(cctx, Filter{OutTradeNo: "A"}, 2, true, func(r *Record) error {
			ch <- r.EventID
			return nil
		})
	}()
	for _, want := range []string{"e3", "e4"} {
		select {
		case e := <-ch:
			if e != want {
				t.Fatalf("tail: got %s, want %s", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("tail: no %s", want)
		}
	}
	sink.Write(ctx, rec("e5", "B", Forwarded, reason.Forwarded))
	sink.Write(ctx, rec("e6", "A", Forwarded, reason.Forwarded))
	select {
	case e := <-ch:
		if e != "e6" {
			t.Fatalf("follow: got %s, want e6", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow: no e6")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	if err := sr.Scan(ctx, Filter{}, func(*Record) error { return nil }); err == nil {
		t.Fatal("Redis down: want an error")
	}
}

func TestPrinter(t *testing.T) {
	var b bytes.Buffer
	p := &Printer{W: &b}
	r := rec("evt\n1", "A", Rejected, reason.PolicyDenied)
	r.Policy = "amount"
	p.Print(r)
	p.Print(rec("e2", "B", Forwarded, reason.Forwarded))
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("want a header and two rows:\n%s", b.String())
	}
	for _, w := range []string{"2026-01-02T03:04:05.123Z", "policy_denied(amount)", "12.34 CNY", "evt 1"} {
		if !strings.Contains(lines[1], w) {
			t.Errorf("row %q lacks %q", lines[1], w)
		}
	}
	b.Reset()
	(&Printer{W: &b, JSON: true}).Print(rec("e2", "B", Forwarded, reason.Forwarded))
	back, err := Decode(b.Bytes())
	if err != nil || back.EventID != "e2" || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("JSON line %q: %v", b.String(), err)
	}
}

func FuzzDecode(f *testing.F) {
	line, _ := marshalLine(sample(1))
	f.Add(line)
	f.Add([]byte(`{"time":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err == nil {
			var out bytes.Buffer
			(&Printer{W: &out}).Print(r)
			if strings.Count(out.String(), "\n") != 2 {
				t.Fatalf("a row spans lines: %q", out.String())
			}
		}
	})
}
