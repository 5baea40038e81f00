package store

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// scriptBatcher sends the scripts of concurrent callers to Redis together:
// a caller that finds no batch in flight sends its script at once, alone,
// as redis.Script.Run would (no timer, nothing added at low load); callers
// that arrive while one is in flight queue, and the queue goes out as one
// pipeline (one write, one read) as soon as the batch in flight returns.
// Under load the batches grow by themselves, and the proxy pays one
// write(2) and one read per batch instead of per script: the "natural"
// pipelining of rueidis, which go-redis's plain client lacks.
//
// Each caller gets its own command's reply or error. Within a batch every
// script goes out as EVALSHA; those answered NOSCRIPT (a restarted or
// flushed server) go again as EVAL in a second pipeline, the fallback
// redis.Script.Run makes for one.
//
// A queued caller whose context ends returns its context's error at once,
// failing closed. Its script is then either never sent (it was still
// queued) or may still run (a batch had taken it): the same as a timeout
// after the write today, and every store script is safe to run again, so
// the provider's retry finds what it left.
//
// A batch of several callers runs under a context of its own, bounded by
// the client's read and write timeouts, not by one caller's context (that
// caller's cancellation would fail the others' scripts). A lone caller's
// script runs under its own context, as before.
//
// On a ClusterClient the pipeline splits by node (go-redis's cluster
// pipeline routes each EVALSHA by its first key's slot and follows MOVED
// and ASK); a FailoverClient (Sentinel) pipelines to the current master.
// A caller whose context carries a recording span is not batched: its
// script runs alone so that redisotel traces it under that span.
type scriptBatcher struct {
	client redis.UniversalClient
	// maxInFlight batches at a time; a caller arriving at the limit
	// queues. One keeps the whole load on one pipelined connection.
	maxInFlight int

	mu       sync.Mutex
	queue    []*batchCall
	inFlight int
	closed   bool
	drained  *sync.Cond // signalled when inFlight reaches 0 after close

	// onQueue and onBatch are test hooks: a call queued, a batch of n
	// calls about to be sent.
	onQueue func()
	onBatch func(n int)
}

// batchCall is one caller's script.
type batchCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd // the answer, once done is closed (or at once for a lone call)
	// state: callQueued until a batch takes it (callTaken) or its caller
	// gives up first (callAbandoned, never sent).
	state atomic.Int32
	done  chan struct{}
}

const (
	callQueued int32 = iota
	callTaken
	callAbandoned
)

func newScriptBatcher(client redis.UniversalClient) *scriptBatcher {
	b := &scriptBatcher{client: client, maxInFlight: 1}
	b.drained = sync.NewCond(&b.mu)
	return b
}

// run is script.Run(ctx, client, keys, args...), batched with concurrent
// callers.
func (b *scriptBatcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if recording(ctx) {
		return script.Run(ctx, b.client, keys, args...)
	}
	c := &batchCall{script: script, keys: keys, args: args}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return failedCmd(ctx, redis.ErrClosed)
	}
	if b.inFlight < b.maxInFlight && len(b.queue) == 0 {
		b.inFlight++
		b.mu.Unlock()
		c.state.Store(callTaken)
		b.send(ctx, []*batchCall{c})
		b.next()
		return c.cmd
	}
	c.done = make(chan struct{})
	b.queue = append(b.queue, c)
	if b.onQueue != nil {
		b.onQueue()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.cmd
	case <-ctx.Done():
		if c.state.CompareAndSwap(callQueued, callAbandoned) {
			return failedCmd(ctx, ctx.Err()) // never sent
		}
		// A batch took it: it may still run, as after a timeout past the
		// write; the caller fails closed all the same.
		return failedCmd(ctx, ctx.Err())
	}
}

// next hands the queue, if any, to a goroutine that sends it, or gives
// the batch slot back. The caller's own answer is ready: it does not wait
// for the next batch.
func (b *scriptBatcher) next() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.release()
		b.mu.Unlock()
		return
	}
	batch := b.queue
	b.queue = nil
	b.mu.Unlock()
	go b.drain(batch)
}

// drain sends batch, then whatever queued meanwhile, until the queue is
// empty.
func (b *scriptBatcher) drain(batch []*batchCall) {
	for {
		b.sendQueued(batch)
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.release()
			b.mu.Unlock()
			return
		}
		batch = b.queue
		b.queue = nil
		b.mu.Unlock()
	}
}

// release gives a batch slot back; b.mu is held.
func (b *scriptBatcher) release() {
	b.inFlight--
	if b.inFlight == 0 && b.closed {
		b.drained.Broadcast()
	}
}

// sendQueued sends the queued calls whose callers still wait and wakes
// each caller.
func (b *scriptBatcher) sendQueued(batch []*batchCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if c.state.CompareAndSwap(callQueued, callTaken) {
			live = append(live, c)
		}
	}
	if len(live) > 0 {
		b.send(context.Background(), live)
	}
	for _, c := range live {
		close(c.done)
	}
}

// send runs the calls' scripts: one alone as redis.Script.Run does, more
// as one pipeline of EVALSHA and, for those answered NOSCRIPT, one of
// EVAL.
func (b *scriptBatcher) send(ctx context.Context, calls []*batchCall) {
	if b.onBatch != nil {
		b.onBatch(len(calls))
	}
	if len(calls) == 1 {
		c := calls[0]
		c.cmd = c.script.Run(ctx, b.client, c.keys, c.args...)
		return
	}
	pipe := b.client.Pipeline()
	for _, c := range calls {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	again := 0
	for _, c := range calls {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			c.cmd = c.script.Eval(ctx, pipe, c.keys, c.args...)
			again++
		}
	}
	if again > 0 {
		_, _ = pipe.Exec(ctx)
	}
}

// close refuses new calls, closes the client (a batch in flight fails
// with it, so closing never waits for a hung server) and returns once no
// batch is left: no goroutine outlives the store. Queued calls are sent
// on the closed client and answered redis.ErrClosed.
func (b *scriptBatcher) close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	err := b.client.Close()
	b.mu.Lock()
	for b.inFlight > 0 {
		b.drained.Wait()
	}
	b.mu.Unlock()
	return err
}

func failedCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
