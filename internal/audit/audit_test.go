package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

var ctx = context.Background()

func sample(i int) *Record {
	return &Record{
		Time:          time.Date(2026, 1, 2, 11, 4, 5, 123000000, time.FixedZone("CST", 8*3600)),
		Provider:      "alipay",
		EventID:       fmt.Sprint("evt-", i),
		OutTradeNo:    "o-1",
		TransactionID: "2026010222001",
		Amount:        1234,
		Currency:      "CNY",
		Status:        "paid",
		Outcome:       Forwarded,
		Reason:        reason.Forwarded,
		Query:         map[string]any{"status": "paid", "amount": 1234},
		RemoteIP:      "203.0.113.7",
		DurationMS:    Millis(1500 * time.Microsecond),
		TraceID:       "4bf92f3577b34da6a3ce929d0e0e4736",
		Body:          "<xml><sign>***</sign></xml>\nline2 & more",
	}
}

// The JSON shape is a contract: exact names, null query, omitted optional
// fields, UTC time.
func TestRecordJSON(t *testing.T) {
	b, err := json.Marshal(sample(1))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"amount", "body", "currency", "duration_ms", "event_id", "outcome", "out_trade_no",
		"provider", "query", "reason", "remote_ip", "status", "time", "trace_id", "transaction_id"}
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v\n want %v", keys, want)
	}
	if m["time"] != "2026-01-02T03:04:05.123Z" {
		t.Errorf("time %v, want UTC RFC 3339", m["time"])
	}
	if m["amount"] != 1234.0 || m["duration_ms"] != 1.5 {
		t.Errorf("amount %v, duration_ms %v", m["amount"], m["duration_ms"])
	}

	r := sample(2)
	r.Query, r.Policy, r.DuplicateOf, r.Outcome, r.Reason = nil, "amount_matches", "2026010122000", Rejected, reason.PolicyDenied
	b, _ = r.MarshalJSON()
	for _, frag := range []string{`"query":null`, `"policy":"amount_matches"`, `"duplicate_of":"2026010122000"`,
		`"outcome":"rejected"`, `"reason":"policy_denied"`, `"body":"<xml><sign>***</sign></xml>\nline2 & more"`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("%s lacks %s", b, frag)
		}
	}
	if strings.Contains(string(b), "\n") {
		t.Error("a record spans lines")
	}

	// A zero time is filled in, in UTC.
	r.Time = time.Time{}
	b, _ = r.MarshalJSON()
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if time.Since(back.Time) > time.Minute || back.Time.Location() != time.UTC {
		t.Errorf("zero time written as %v", back.Time)
	}
}

func TestFileSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Write(ctx, sample(w*each+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, sample(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %o, want 600", perm)
	}

	// Reopening appends instead of truncating.
	s, err = NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, sample(-1)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	recs := readLines(t, path)
	if len(recs) != writers*each+1 {
		t.Fatalf("%d records, want %d", len(recs), writers*each+1)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.EventID] = true
	}
	if len(seen) != writers*each+1 {
		t.Errorf("%d distinct events: lines lost or interleaved", len(seen))
	}
	want := sample(-1)
	want.Time = want.Time.UTC()
	got := recs[len(recs)-1]
	want.Query = got.Query // decoded as map[string]any with float64 numbers
	if !reflect.DeepEqual(got, *want) {
		t.Errorf("read back\n %+v\nwant %+v", got, *want)
	}
	if q := got.Query.(map[string]any); q["status"] != "paid" || q["amount"] != 1234.0 {
		t.Errorf("query read back as %v", got.Query)
	}
}

func readLines(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %s", len(recs)+1, err, sc.Text())
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestFileSinkBadPath(t *testing.T) {
	_, err := NewFileSink(filepath.Join(t.TempDir(), "no", "such", "dir", "audit.jsonl"))
	if err == nil {
		t.Fatal("no error for a missing directory")
	}
}

func TestRedisStreamSink(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, DialerRetries: 1, MaxRetries: -1})
	defer client.Close()

	s := NewRedisStreamSink(client, "payguard:audit")
	for i := range 3 {
		if err := s.Write(ctx, sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := client.XRange(ctx, "payguard:audit", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d entries, want 3", len(msgs))
	}
	for i, m := range msgs {
		if len(m.Values) != 1 {
			t.Errorf("entry %s has fields %v, want only %q", m.ID, m.Values, StreamField)
		}
		raw, ok := m.Values[StreamField].(string)
		if !ok {
			t.Fatalf("entry %s: no %q field: %v", m.ID, StreamField, m.Values)
		}
		var r Record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatal(err)
		}
		if r.EventID != fmt.Sprint("evt-", i) || r.Amount != 1234 || r.Body != sample(i).Body {
			t.Errorf("entry %d read back as %+v", i, r)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, sample(9)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Errorf("closing the sink closed the shared client: %v", err)
	}

	// A capped stream stays near its cap.
	capped := NewRedisStreamSink(client, "capped", WithMaxLen(10))
	for i := range 500 {
		if err := capped.Write(ctx, sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	// MAXLEN ~ trims whole macro nodes (100 entries by default).
	if n := client.XLen(ctx, "capped").Val(); n >= 500 || n < 10 {
		t.Errorf("capped stream holds %d entries", n)
	}

	// Without a cap the default one applies: XADD always trims.
	if d := NewRedisStreamSink(client, "default", WithMaxLen(0)); d.maxLen != DefaultStreamMaxLen {
		t.Errorf("default cap %d, want %d", d.maxLen, DefaultStreamMaxLen)
	}

	// An unreachable Redis is an error, not a hang or a silent loss.
	srv.Stop()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := NewRedisStreamSink(client, "payguard:audit").Write(cctx, sample(0)); err == nil {
		t.Error("Write with Redis down: no error")
	}
}

func TestDiscard(t *testing.T) {
	if err := Discard.Write(ctx, sample(0)); err != nil {
		t.Fatal(err)
	}
	if err := Discard.Close(); err != nil {
		t.Fatal(err)
	}
}
