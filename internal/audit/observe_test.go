package audit

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestObserveCountsLostRecords: a record the file or the stream did not
// take is reported with the sink's own error; a written one is not;
// Discard stays Discard.
func TestObserveCountsLostRecords(t *testing.T) {
	var lost []error
	report := func(err error) { lost = append(lost, err) }
	if Observe(Discard, report) != Discard {
		t.Fatal("Observe(Discard) is no longer Discard")
	}

	fs, err := NewFileSink(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	file := Observe(fs, report)
	rec := &Record{Provider: "p", Outcome: Forwarded}
	if err := file.Write(context.Background(), rec); err != nil || len(lost) != 0 {
		t.Fatalf("a written record: %v, reported %v", err, lost)
	}
	_ = file.Close()
	if err := file.Write(context.Background(), rec); !errors.Is(err, ErrClosed) || len(lost) != 1 || lost[0] != err {
		t.Fatalf("a record after Close: %v, reported %v", err, lost)
	}

	// A stream whose Redis refuses connections (a port nobody listens on).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer client.Close()
	stream := Observe(NewRedisStreamSink(client, "audit"), report)
	if err := stream.Write(context.Background(), rec); err == nil || len(lost) != 2 || lost[1] != err {
		t.Fatalf("XADD to a dead Redis: %v, reported %v", err, lost)
	}
	if u, ok := stream.(interface{ Unwrap() Sink }); !ok || u.Unwrap() == nil {
		t.Fatal("no Unwrap")
	}
}
