package audit

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// StreamField is the stream entry field holding the JSON record.
const StreamField = "record"

// DefaultStreamMaxLen is the stream's cap when none is configured
// (DESIGN.md section 2 step 11): the stream usually shares its Redis with
// the claims, and an unbounded one would evict them or make Redis refuse
// writes.
const DefaultStreamMaxLen = 100000

// RedisStreamSink appends records to a Redis stream with XADD.
type RedisStreamSink struct {
	client redis.UniversalClient
	stream string
	maxLen int64
	closed atomic.Bool
}

// StreamOption configures a RedisStreamSink.
type StreamOption func(*RedisStreamSink)

// WithMaxLen caps the stream at about n entries (XADD MAXLEN ~ n, which
// trims whole macro nodes and so costs nothing per write); n <= 0 keeps
// DefaultStreamMaxLen. There is no unbounded stream.
func WithMaxLen(n int64) StreamOption {
	return func(s *RedisStreamSink) {
		if n > 0 {
			s.maxLen = n
		}
	}
}

// NewRedisStreamSink returns a sink appending to stream (e.g.
// "payguard:audit") over client. The client is shared, not owned: Close
// does not close it (the store usually owns it and is closed after the
// sink).
func NewRedisStreamSink(client redis.UniversalClient, stream string, opts ...StreamOption) *RedisStreamSink {
	s := &RedisStreamSink{client: client, stream: stream, maxLen: DefaultStreamMaxLen}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Write adds r as one stream entry with an id chosen by Redis.
func (s *RedisStreamSink) Write(ctx context.Context, r *Record) error {
	if s.closed.Load() {
		return ErrClosed
	}
	b, err := r.MarshalJSON()
	if err != nil {
		return fmt.Errorf("audit: encode record: %w", err)
	}
	args := &redis.XAddArgs{
		Stream: s.stream,
		Values: []any{StreamField, b},
		MaxLen: s.maxLen,
		Approx: true,
	}
	if err := s.client.XAdd(ctx, args).Err(); err != nil {
		return fmt.Errorf("audit: XADD %s: %w", s.stream, err)
	}
	return nil
}

// Close makes later Writes fail; the client stays open.
func (s *RedisStreamSink) Close() error {
	s.closed.Store(true)
	return nil
}
