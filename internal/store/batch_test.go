package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/payguard/payguard/internal/store/redistest"
)

// echoScript sets KEYS[1] to ARGV[1] and answers ARGV[1]: each caller's
// reply is its own argument, and the key tells whether it ran.
var echoScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// heldBatcher is a batcher whose first (lone) call is held in flight
// until release, so that the calls after it queue behind it.
type heldBatcher struct {
	*scriptBatcher
	queued  chan struct{} // one per call queued
	batches chan int      // the size of each batch sent
	release chan struct{} // closed: the held call goes out
	// beforeBatch runs before each batch of more than one is sent.
	beforeBatch func(n int)
}

func newHeldBatcher(client redis.UniversalClient) *heldBatcher {
	h := &heldBatcher{scriptBatcher: newScriptBatcher(client), queued: make(chan struct{}, 1000),
		batches: make(chan int, 1000), release: make(chan struct{})}
	first := true
	h.onQueue = func() { h.queued <- struct{}{} }
	h.onBatch = func(n int) {
		h.batches <- n
		if first {
			first = false
			<-h.release
		}
		if n > 1 && h.beforeBatch != nil {
			h.beforeBatch(n)
		}
	}
	return h
}

// queueCalls starts the held call and then n calls of echoScript on their own
// keys, and returns once all n are queued. Each answer arrives on the
// channel at the call's index (the held call is -1).
func (h *heldBatcher) queueCalls(t *testing.T, ctxs []context.Context, prefix string) <-chan answer {
	t.Helper()
	out := make(chan answer, len(ctxs)+1)
	go func() {
		v, err := h.run(context.Background(), echoScript, []string{prefix + "held"}, "held").Text()
		out <- answer{-1, v, err}
	}()
	if n := <-h.batches; n != 1 {
		t.Fatalf("the first call went out in a batch of %d", n)
	}
	for i, ctx := range ctxs {
		go func() {
			v, err := h.run(ctx, echoScript, []string{fmt.Sprintf("%sk%d", prefix, i)}, fmt.Sprint("v", i)).Text()
			out <- answer{i, v, err}
		}()
	}
	for range ctxs {
		<-h.queued
	}
	return out
}

type answer struct {
	i   int
	v   string
	err error
}

func backgrounds(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	return ctxs
}

// Callers that arrive while a script is in flight go out together, in one
// pipeline, and each gets its own reply.
func TestBatchEachCallerItsOwnReply(t *testing.T) {
	t.Parallel()
	for name, client := range map[string]func(t *testing.T) redis.UniversalClient{
		"standalone": func(t *testing.T) redis.UniversalClient { return redistest.Start(t).NewClient(t) },
		"cluster":    func(t *testing.T) redis.UniversalClient { return redistest.StartCluster(t, 3).NewClient(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHeldBatcher(client(t))
			const n = 40
			out := h.queueCalls(t, backgrounds(n), "each:")
			close(h.release)
			for range n + 1 {
				a := <-out
				want := fmt.Sprint("v", a.i)
				if a.i < 0 {
					want = "held"
				}
				if a.err != nil || a.v != want {
					t.Errorf("call %d: %q, %v; want %q", a.i, a.v, a.err, want)
				}
			}
			if got := <-h.batches; got != n {
				t.Errorf("the queued calls went out in a batch of %d, want %d", got, n)
			}
		})
	}
}

// A queued caller whose context ends returns its context's error at once;
// its script, still queued, never runs. One whose context ends after a
// batch took its script fails closed all the same, though the script runs.
func TestBatchCancelledCaller(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	check := srv.NewClient(t)
	h := newHeldBatcher(srv.NewClient(t))
	ctxs := backgrounds(3)
	queuedCtx, cancelQueued := context.WithCancel(context.Background())
	takenCtx, cancelTaken := context.WithCancel(context.Background())
	ctxs[0], ctxs[1] = queuedCtx, takenCtx
	proceed := make(chan struct{})
	h.beforeBatch = func(int) {
		// The batch has taken the calls: the caller gives up now, and
		// returns before its script is sent.
		cancelTaken()
		<-proceed
	}
	out := h.queueCalls(t, ctxs, "cancel:")
	cancelQueued()
	if a := <-out; a.i != 0 || !errors.Is(a.err, context.Canceled) {
		t.Fatalf("the caller cancelled while queued: %d %q %v, want its context's error", a.i, a.v, a.err)
	}
	close(h.release)
	got := map[int]answer{}
	for got[1].err == nil {
		a := <-out
		got[a.i] = a
	}
	close(proceed)
	for len(got) < 3 {
		a := <-out
		got[a.i] = a
	}
	if a := got[1]; !errors.Is(a.err, context.Canceled) {
		t.Errorf("the caller cancelled in flight: %q %v, want its context's error", a.v, a.err)
	}
	if got[-1].v != "held" || got[2].v != "v2" {
		t.Fatalf("the others: %v", got)
	}
	if n := <-h.batches; n != 2 {
		t.Errorf("batch of %d, want 2: the cancelled caller's script was sent", n)
	}
	ctx := context.Background()
	if err := check.Get(ctx, "cancel:k0").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("the script of the caller cancelled while queued ran: %v", err)
	}
	if v, err := check.Get(ctx, "cancel:k1").Result(); err != nil || v != "v1" {
		t.Errorf("the script taken before its caller gave up: %q %v, want it run", v, err)
	}
}

// Redis killed while a batch is on its way: every caller of it gets an
// error, none a reply; once Redis is back (empty, its scripts gone) the
// next batch works, through the EVAL fallback.
func TestBatchOutageMidBatch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opts := mustParse(t, srv.URL(), nil, "")
	h := newHeldBatcher(redis.NewUniversalClient(opts))
	t.Cleanup(func() { _ = h.close() })
	stopped := false
	h.beforeBatch = func(int) {
		if !stopped {
			stopped = true
			srv.Stop()
		}
	}
	const n = 10
	out := h.queueCalls(t, backgrounds(n), "outage:")
	close(h.release)
	for range n + 1 {
		a := <-out
		if a.i >= 0 && a.err == nil {
			t.Errorf("call %d answered %q with Redis down", a.i, a.v)
		}
	}
	srv.Restart()
	h.onBatch = func(n int) { h.batches <- n }
	h.beforeBatch = nil
	if v, err := h.run(context.Background(), echoScript, []string{"outage:after"}, "x").Text(); err != nil || v != "x" {
		t.Fatalf("after the restart: %q %v", v, err)
	}
}

// SCRIPT FLUSH (or a restarted server) between two batches: the batch's
// EVALSHAs are answered NOSCRIPT and go again as EVALs, and every caller
// gets its reply.
func TestBatchNoScriptAfterFlush(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client, cmds := srv.CountedClient()
	h := newHeldBatcher(client)
	ctx := context.Background()
	h.beforeBatch = func(int) {
		if err := srv.NewClient(t).ScriptFlush(ctx).Err(); err != nil {
			t.Error(err)
		}
		cmds.Take()
	}
	const n = 5
	out := h.queueCalls(t, backgrounds(n), "flush:")
	close(h.release)
	for range n + 1 {
		if a := <-out; a.err != nil {
			t.Errorf("call %d: %v", a.i, a.err)
		}
	}
	var got []string
	for _, c := range cmds.Take() {
		if c == "eval" || c == "evalsha" {
			got = append(got, c) // beside a new connection's hello and client setinfo
		}
	}
	want := slices.Repeat([]string{"evalsha"}, n)
	want = append(want, slices.Repeat([]string{"eval"}, n)...)
	if !slices.Equal(got, want) {
		t.Errorf("commands after the flush %v, want %v", got, want)
	}
}

// Close with callers queued: each gets an answer (a reply or
// redis.ErrClosed), Close returns once no batch is in flight, and a call
// after it is refused.
func TestBatchClose(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := newHeldBatcher(redis.NewClient(&redis.Options{Addr: srv.Addr()}))
	const n = 8
	out := h.queueCalls(t, backgrounds(n), "close:")
	closed := make(chan error)
	go func() { closed <- h.close() }()
	close(h.release)
	for range n + 1 {
		a := <-out
		if a.err == nil && a.v == "" || a.err != nil && !errors.Is(a.err, redis.ErrClosed) {
			t.Errorf("call %d: %q %v, want its reply or redis.ErrClosed", a.i, a.v, a.err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	inFlight, queued := h.inFlight, len(h.queue)
	h.mu.Unlock()
	if inFlight != 0 || queued != 0 {
		t.Fatalf("after Close: %d batches in flight, %d calls queued", inFlight, queued)
	}
	if err := h.run(context.Background(), echoScript, []string{"close:late"}, "x").Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("a call after Close: %v, want redis.ErrClosed", err)
	}
}

// Many callers at once on the store's own operations, without any hold:
// whatever the batches, each distinct nonce is fresh exactly once and each
// event claimed exactly once, as one caller at a time would find.
func TestBatchConcurrentStoreCalls(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := NewRedis(redis.NewUniversalClient(mustParse(t, srv.URL(), nil, "")), "conc:")
	t.Cleanup(func() { _ = s.Close() })
	sizes := make(chan int, 10000)
	s.scripts.onBatch = func(n int) { sizes <- n }
	const callers, distinct = 400, 50
	var mu sync.Mutex
	fresh, claimed := map[int]int{}, map[int]int{}
	var wg sync.WaitGroup
	ctx := context.Background()
	for i := range callers {
		wg.Go(func() {
			f, err := s.RecordNonce(ctx, "p", fmt.Sprint("n", i%distinct), long)
			if err != nil {
				t.Error(err)
				return
			}
			c, err := s.ClaimEvent(ctx, "p", fmt.Sprint("e", i%distinct), long)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if f {
				fresh[i%distinct]++
			}
			if c.State == Claimed {
				claimed[i%distinct]++
			}
		})
	}
	wg.Wait()
	for k := range distinct {
		if fresh[k] != 1 || claimed[k] != 1 {
			t.Errorf("key %d: fresh %d times, claimed %d times; want once each", k, fresh[k], claimed[k])
		}
	}
	close(sizes)
	calls := 0
	for n := range sizes {
		calls += n
	}
	if calls != 2*callers {
		t.Errorf("%d scripts sent, want %d", calls, 2*callers)
	}
}
