package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

// DefaultCompleteWait bounds how long the acknowledge stage retries the
// done record of a notification the shop accepted while the store is
// unreachable, the provider still waiting for its answer.
const DefaultCompleteWait = 5 * time.Second

// pending holds the completions the shop accepted but the store did not
// take within the request (DESIGN.md section 2: nothing is acknowledged
// before it is recorded, and nothing the shop has is delivered again).
// One writer goroutine retries them with backoff while any is left; a
// retry of such an event reaching this process is a duplicate, since the
// shop has it.
type pending struct {
	keep time.Duration // give up on an entry after it (the dedup ttl: its record would be gone by then)

	mu      sync.Mutex
	entries map[string]*pendingEntry
	running bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
	// written, when set, is told each event id written (tests).
	written func(eventID string)
}

type pendingEntry struct {
	write func(context.Context) error
	since time.Time
}

func newPending(keep time.Duration) *pending {
	return &pending{keep: keep, entries: map[string]*pendingEntry{}, stop: make(chan struct{})}
}

// has reports whether eventID's completion waits in this process.
func (q *pending) has(eventID string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.entries[eventID]
	return ok
}

// add remembers a completion and starts the writer if it is not running.
func (q *pending) add(eventID string, write func(context.Context) error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.entries[eventID] = &pendingEntry{write: write, since: time.Now()}
	if !q.running {
		q.running = true
		q.done = make(chan struct{})
		go q.run(q.done)
	}
}

// run retries every entry with backoff until none is left or close.
func (q *pending) run(done chan struct{}) {
	defer close(done)
	wait := retryFirst
	for {
		t := time.NewTimer(wait)
		select {
		case <-q.stop:
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
		if q.writeAll() {
			return
		}
	}
}

// writeAll tries each entry once; it reports whether none is left (and
// the writer has stopped running).
func (q *pending) writeAll() bool {
	q.mu.Lock()
	ids := make([]string, 0, len(q.entries))
	for id := range q.entries {
		ids = append(ids, id)
	}
	q.mu.Unlock()
	for _, id := range ids {
		q.mu.Lock()
		e := q.entries[id]
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), storeCleanupTimeout)
		err := e.write(ctx)
		cancel()
		if err == nil || time.Since(e.since) > q.keep {
			q.mu.Lock()
			delete(q.entries, id)
			q.mu.Unlock()
			if err == nil && q.written != nil {
				q.written(id)
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.entries) == 0 {
		q.running = false
		return true
	}
	return false
}

// close stops the writer after one last attempt and returns the event
// ids whose completion was never written.
func (q *pending) close() []string {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.stop)
	done := q.done
	q.mu.Unlock()
	if done != nil {
		<-done
	}
	q.writeAll()
	q.mu.Lock()
	defer q.mu.Unlock()
	var left []string
	for id := range q.entries {
		left = append(left, id)
	}
	return left
}

// Close stops the pipeline's background writer of pending completions
// (config unload) after one last attempt, and returns the event ids the
// store never took: the shop has them, and a provider's retry of one may
// be delivered again.
func (p *Pipeline) Close() []string { return p.pending.close() }

// completing answers a retry of an event whose completion waits in this
// process as a duplicate: the shop accepted it.
func (d *delivery) completing() error {
	if d.n.EventID == "" || !d.p.pending.has(d.n.EventID) {
		return nil
	}
	d.res.Code, d.res.Outcome = reason.Duplicate, OutcomeDuplicate
	d.res.Response = d.p.ack(true, reason.Duplicate, &d.ackVals)
	return errStop
}
