package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// runScript runs s on the server, as EVALSHA and as EVAL after NOSCRIPT (a
// restarted or failed-over server needs no warm-up).
//
// Concurrent notifications each paid a round trip of their own: a write and
// a read on both sides of the socket around a few microseconds of Lua, a
// fifth of payguard's CPU at a few thousand notifications a second (the
// profile in bench/RESULTS.md). On a standalone or Sentinel client the
// scripts of concurrent callers therefore share round trips (see
// scriptBatcher); on Cluster each goes alone, to its own slot's node.
//
// A call under a recording span also goes alone, so that its span is the
// command's own rather than a shared pipeline's.
func (r *Redis) runScript(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	if r.batch == nil || recording(ctx) {
		return s.Run(ctx, r.client, keys, args...)
	}
	return r.batch.run(ctx, s, keys, args)
}

// scriptBatcher sends a call at once while fewer than slots of its own
// are on the wire, and otherwise queues it; when a call or batch on the
// wire comes back, everything queued meanwhile goes out as one pipeline.
// It never waits for company, so a lone notification pays exactly the
// round trip it paid before, and under load the batches grow by
// themselves. With one slot, a quarter of plain Caddy's peak already kept
// it busy most of the time, and a call that arrived then waited for the
// one on the wire (open-loop p50 up to half a millisecond above main's);
// two slots let such a call go at once and still batch under load.
//
// Each script stays its own atomic command with its own reply. A pipeline
// go-redis retries after a network error runs its scripts again, which
// they are written to survive, as a retried single command is (see Redis).
type scriptBatcher struct {
	client *redis.Client
	// wait bounds a queued caller without a sooner deadline: it waits for
	// the batch ahead of it and then its own, and should give up no later
	// than the plain client would have on a hung server.
	wait       time.Duration
	waitFailed error

	slots int // calls or batches of this batcher on the wire at most

	mu     sync.Mutex
	onWire int // calls and batches of this batcher on the wire
	queue  []*queuedScript
	// queued, in tests, hears the queue's length after each enqueue.
	queued func(n int)
}

type queuedScript struct {
	ctx    context.Context
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd    // written by the sender before done closes
	done   chan struct{} // closed once cmd holds the reply or the error
	// left: the caller stopped waiting (its context, or the bound); a
	// batch not yet sent leaves the script out.
	left atomic.Bool
}

// batchSlots is a batcher's slots (see scriptBatcher).
const batchSlots = 2

func newScriptBatcher(c *redis.Client) *scriptBatcher {
	wait := batchWait(c.Options())
	return &scriptBatcher{client: c, wait: wait, waitFailed: fmt.Errorf("no reply within %s", wait), slots: batchSlots}
}

// batchWait is how long the plain client takes at most to give up on a
// hung server: every attempt's read timeout. Nothing bounds a client whose
// read timeout is off.
func batchWait(o *redis.Options) time.Duration {
	if o.ReadTimeout <= 0 {
		return 0
	}
	return time.Duration(max(o.MaxRetries, 0)+1) * o.ReadTimeout
}

func (b *scriptBatcher) run(ctx context.Context, s *redis.Script, keys []string, args []any) *redis.Cmd {
	if err := ctx.Err(); err != nil {
		return failedCmd(ctx, err) // sends nothing, like the plain client
	}
	b.mu.Lock()
	if b.onWire < b.slots {
		b.onWire++
		b.mu.Unlock()
		defer b.sendQueued()
		return s.Run(ctx, b.client, keys, args...)
	}
	q := &queuedScript{ctx: ctx, script: s, keys: keys, args: args, done: make(chan struct{})}
	b.queue = append(b.queue, q)
	n := len(b.queue)
	b.mu.Unlock()
	if b.queued != nil {
		b.queued(n)
	}
	return b.await(q)
}

// await returns q's reply, or an error of its own once the caller's context
// ends or the wait passes b.wait: the script may still run then, as a
// single command already written may after its caller gave up.
func (b *scriptBatcher) await(q *queuedScript) *redis.Cmd {
	var expired <-chan time.Time
	if dl, ok := q.ctx.Deadline(); b.wait > 0 && (!ok || time.Until(dl) > b.wait) {
		t := time.NewTimer(b.wait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-q.done:
		return q.cmd
	case <-q.ctx.Done():
		q.left.Store(true)
		return failedCmd(q.ctx, q.ctx.Err())
	case <-expired:
		// Without this, a hung server's backlog of scripts whose callers
		// gave up would all run when it comes back, each claiming an event
		// for a token nobody holds until its lease ran out.
		q.left.Store(true)
		return failedCmd(q.ctx, b.waitFailed)
	}
}

// sendQueued hands what queued while this batcher's slots were taken to a
// goroutine of its own, which keeps the slot of the call or batch that
// just came back, so that caller returns at once; with nothing queued the
// slot is free again.
func (b *scriptBatcher) sendQueued() {
	b.mu.Lock()
	batch := b.queue
	if len(batch) == 0 {
		b.onWire--
		b.mu.Unlock()
		return
	}
	b.queue = nil
	b.mu.Unlock()
	go b.send(batch)
}

// send runs batch as one pipeline, and the scripts the server did not know
// (NOSCRIPT) as a second one with their source. Its context is none of the
// callers': they have deadlines of their own and each leaves on its own.
func (b *scriptBatcher) send(batch []*queuedScript) {
	defer b.sendQueued()
	live := batch[:0] // written behind the reading, in place
	for _, q := range batch {
		if q.left.Load() || q.ctx.Err() != nil {
			close(q.done) // gone already: send nothing for it
			continue
		}
		live = append(live, q)
	}
	ctx := context.Background()
	b.exec(live, func(p redis.Pipeliner, q *queuedScript) *redis.Cmd {
		return p.EvalSha(ctx, q.script.Hash(), q.keys, q.args...)
	})
	var unknown []*queuedScript
	for _, q := range live {
		if redis.HasErrorPrefix(q.cmd.Err(), "NOSCRIPT") {
			unknown = append(unknown, q)
		}
	}
	b.exec(unknown, func(p redis.Pipeliner, q *queuedScript) *redis.Cmd {
		return q.script.Eval(ctx, p, q.keys, q.args...)
	})
	for _, q := range live {
		close(q.done)
	}
}

func (b *scriptBatcher) exec(qs []*queuedScript, add func(redis.Pipeliner, *queuedScript) *redis.Cmd) {
	if len(qs) == 0 {
		return
	}
	pipe := b.client.Pipeline()
	for _, q := range qs {
		q.cmd = add(pipe, q)
	}
	// Each command holds its own reply or error; Exec's is the first of them.
	_, _ = pipe.Exec(context.Background())
}

func failedCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
