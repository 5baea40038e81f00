package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// StreamReader reads the audit stream RedisStreamSink writes: entries
// whose field "record" is one JSON record.
type StreamReader struct {
	Client redis.UniversalClient
	Stream string
	// Batch is how many entries one XRANGE or XREVRANGE asks for (default
	// 500): the stream holds up to maxlen (100000) entries.
	Batch int64
	// Block is how long one XREAD of a follow waits (default 5s) before
	// it looks at ctx again.
	Block time.Duration
	// Skipped counts entries that hold no record.
	Skipped int
}

func (sr *StreamReader) batch() int64 {
	if sr.Batch > 0 {
		return sr.Batch
	}
	return 500
}

func (sr *StreamReader) decode(m redis.XMessage) (*Record, bool) {
	v, ok := m.Values[StreamField].(string)
	if !ok {
		sr.Skipped++
		return nil, false
	}
	r, err := Decode([]byte(v))
	if err != nil {
		sr.Skipped++
		return nil, false
	}
	return r, true
}

// Scan visits every entry's record that passes f, oldest first.
func (sr *StreamReader) Scan(ctx context.Context, f Filter, visit Visit) error {
	start := "-"
	for {
		msgs, err := sr.Client.XRangeN(ctx, sr.Stream, start, "+", sr.batch()).Result()
		if err != nil {
			return fmt.Errorf("audit: XRANGE %s: %w", sr.Stream, err)
		}
		for _, m := range msgs {
			if r, ok := sr.decode(m); ok && f.Match(r) {
				if err := visit(r); err != nil {
					return stopIsNil(err)
				}
			}
		}
		if int64(len(msgs)) < sr.batch() {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// Tail visits the last n records that pass f, oldest first, walking the
// stream backwards; with follow it then visits each new entry's record as
// it is added (XREAD BLOCK), until ctx ends.
func (sr *StreamReader) Tail(ctx context.Context, f Filter, n int, follow bool, visit Visit) error {
	// The id to follow from: the newest entry now, read before the walk
	// back so that nothing added meanwhile is missed or printed twice.
	lastID := "0-0"
	newest, err := sr.Client.XRevRangeN(ctx, sr.Stream, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("audit: XREVRANGE %s: %w", sr.Stream, err)
	}
	if len(newest) == 1 {
		lastID = newest[0].ID
	}
	var last []*Record
	end := lastID
	for n > 0 && len(newest) == 1 && len(last) < n {
		msgs, err := sr.Client.XRevRangeN(ctx, sr.Stream, end, "-", sr.batch()).Result()
		if err != nil {
			return fmt.Errorf("audit: XREVRANGE %s: %w", sr.Stream, err)
		}
		for _, m := range msgs {
			if r, ok := sr.decode(m); ok && f.Match(r) && len(last) < n {
				last = append(last, r)
			}
		}
		if int64(len(msgs)) < sr.batch() {
			break
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
	slices.Reverse(last)
	for _, r := range last {
		if err := visit(r); err != nil {
			return stopIsNil(err)
		}
	}
	if !follow {
		return nil
	}
	return stopIsNil(sr.follow(ctx, lastID, f, visit))
}

func (sr *StreamReader) follow(ctx context.Context, lastID string, f Filter, visit Visit) error {
	block := sr.Block
	if block <= 0 {
		block = 5 * time.Second
	}
	for ctx.Err() == nil {
		res, err := sr.Client.XRead(ctx, &redis.XReadArgs{
			Streams: []string{sr.Stream, lastID},
			Count:   sr.batch(),
			Block:   block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue // the block timed out: nothing new
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("audit: XREAD %s: %w", sr.Stream, err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				lastID = m.ID
				if r, ok := sr.decode(m); ok && f.Match(r) {
					if err := visit(r); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
