package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/payguard/payguard/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

// echoScript writes its value under its key and answers it, so that a
// reply handed to the wrong caller shows.
var echoScript = redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]`)

// gate holds the first hold scripts a client sends until release closes,
// and records how many scripts each pipeline carried.
type gate struct {
	hold    int
	held    int           // guarded by mu
	entered chan struct{} // closed once hold scripts are held
	release chan struct{}
	// afterFirst, when set, runs once the first held script is answered,
	// before the batcher hears of it.
	afterFirst func()
	mu         sync.Mutex
	pipelines  []int
}

func newGate(hold int) *gate {
	return &gate{hold: hold, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !strings.HasPrefix(cmd.Name(), "eval") {
			return next(ctx, cmd)
		}
		g.mu.Lock()
		nth := 0
		if g.held < g.hold {
			g.held++
			nth = g.held
			if g.held == g.hold {
				close(g.entered)
			}
		}
		g.mu.Unlock()
		if nth == 0 {
			return next(ctx, cmd)
		}
		<-g.release
		err := next(ctx, cmd)
		if nth == 1 && g.afterFirst != nil {
			g.afterFirst()
		}
		return err
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		scripts := 0
		for _, c := range cmds {
			if strings.HasPrefix(c.Name(), "eval") {
				scripts++
			}
		}
		if scripts > 0 { // not a new connection's HELLO and CLIENT SETINFO
			g.mu.Lock()
			g.pipelines = append(g.pipelines, scripts)
			g.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

func (g *gate) sizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.pipelines...)
}

// gatedBatcher is a batcher of slots whose first slots scripts are held
// in flight, and a channel that hears the queue's length.
func gatedBatcher(t *testing.T, srv *redistest.Server, slots int) (*scriptBatcher, *gate, chan int) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	if err := echoScript.Load(ctx, c).Err(); err != nil {
		t.Fatal(err)
	}
	g := newGate(slots)
	c.AddHook(g)
	b := newScriptBatcher(c)
	b.slots = slots
	queued := make(chan int, 64)
	b.queued = func(n int) { queued <- n }
	return b, g, queued
}

// holdFirst starts the batcher's lone calls, one per slot, and returns
// once they are on the wire (held by the gate); lone call i answers
// "lone<i>" on its channel.
func holdFirst(t *testing.T, b *scriptBatcher, g *gate) []chan *redis.Cmd {
	t.Helper()
	lone := make([]chan *redis.Cmd, g.hold)
	for i := range lone {
		lone[i] = make(chan *redis.Cmd, 1)
		go func() {
			want := fmt.Sprintf("lone%d", i)
			lone[i] <- b.run(ctx, echoScript, []string{"k:" + want}, []any{want})
		}()
	}
	<-g.entered
	return lone
}

// queueEchoes starts n calls behind the held one and returns once all n
// are queued; call i answers on replies[i].
func queueEchoes(t *testing.T, b *scriptBatcher, queued chan int, n int, cctx func(i int) context.Context) []chan *redis.Cmd {
	t.Helper()
	replies := make([]chan *redis.Cmd, n)
	for i := range replies {
		replies[i] = make(chan *redis.Cmd, 1)
		go func() {
			replies[i] <- b.run(cctx(i), echoScript, []string{fmt.Sprintf("k:%d", i)}, []any{fmt.Sprintf("v%d", i)})
		}()
	}
	for got := 0; got < n; got = <-queued {
	}
	return replies
}

func background(int) context.Context { return ctx }

// checkEchoes checks that the held calls and every queued one got their
// own replies.
func checkEchoes(t *testing.T, lone []chan *redis.Cmd, replies []chan *redis.Cmd) {
	t.Helper()
	for i, r := range lone {
		if v, err := (<-r).Text(); err != nil || v != fmt.Sprintf("lone%d", i) {
			t.Fatalf("held call %d: %q, %v", i, v, err)
		}
	}
	for i, r := range replies {
		if v, err := (<-r).Text(); err != nil || v != fmt.Sprintf("v%d", i) {
			t.Errorf("call %d got %q, %v", i, v, err)
		}
	}
}

// What queues while every slot has a call on the wire goes out as one
// pipeline once one of them is back, and every caller gets its own reply:
// with one slot everything behind the held call, with two slots a second
// call goes at once beside the first and only a third queues.
func TestScriptBatcherSharesRoundTrips(t *testing.T) {
	for _, tc := range []struct{ slots, queued int }{{1, 8}, {2, 1}} {
		t.Run(fmt.Sprintf("%d slots", tc.slots), func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			b, g, queued := gatedBatcher(t, srv, tc.slots)
			held := holdFirst(t, b, g)
			replies := queueEchoes(t, b, queued, tc.queued, background)
			close(g.release)

			checkEchoes(t, held, replies)
			if got := g.sizes(); len(got) != 1 || got[0] != tc.queued {
				t.Errorf("pipelines sent: %v, want one of %d", got, tc.queued)
			}
			raw := srv.NewClient(t)
			for i := range tc.queued {
				if v := raw.Get(ctx, fmt.Sprintf("k:%d", i)).Val(); v != fmt.Sprintf("v%d", i) {
					t.Errorf("k:%d holds %q", i, v)
				}
			}
		})
	}
}

// A server that lost its scripts (restarted, failed over) answers a batch
// NOSCRIPT; the batch goes again with the scripts' source.
func TestScriptBatcherAfterNoScript(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b, g, queued := gatedBatcher(t, srv, 1)
	first := holdFirst(t, b, g)
	replies := queueEchoes(t, b, queued, 5, background)
	raw := srv.NewClient(t)
	g.afterFirst = func() {
		if err := raw.ScriptFlush(ctx).Err(); err != nil {
			t.Error(err)
		}
	}
	close(g.release)

	checkEchoes(t, first, replies)
	if got := g.sizes(); len(got) != 2 || got[0] != 5 || got[1] != 5 {
		t.Errorf("pipelines sent: %v, want the EVALSHAs and then the EVALs, 5 each", got)
	}
}

// A caller whose context ends while it queues gets its context's error at
// once, and nothing of it is sent.
func TestScriptBatcherCanceledWhileQueued(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b, g, queued := gatedBatcher(t, srv, 1)
	first := holdFirst(t, b, g)
	cctx, cancel := context.WithCancel(ctx)
	replies := queueEchoes(t, b, queued, 1, func(int) context.Context { return cctx })
	cancel()
	if err := (<-replies[0]).Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled while queued: %v, want context.Canceled", err)
	}
	close(g.release)
	<-first[0]
	checkNotSent(t, b, g, srv)
}

// checkNotSent checks that the queued call 0, whose caller left, was never
// sent: once a later call is answered (alone, or queued behind the send
// that skipped call 0), that send is over.
func checkNotSent(t *testing.T, b *scriptBatcher, g *gate, srv *redistest.Server) {
	t.Helper()
	if v, err := b.run(ctx, echoScript, []string{"k:after"}, []any{"after"}).Text(); err != nil || v != "after" {
		t.Fatalf("a call after: %q, %v", v, err)
	}
	if n := srv.NewClient(t).Exists(ctx, "k:0").Val(); n != 0 {
		t.Error("the script of a caller that left ran")
	}
	for _, n := range g.sizes() {
		if n > 1 {
			t.Errorf("a pipeline of %d scripts: the left one went with the later call", n)
		}
	}
}

// A queued caller without a deadline gives up once the wait passes what
// the plain client would allow a hung server, and its script is then left
// out of the batch (a hung server's backlog does not all run on its
// return).
func TestScriptBatcherBoundsTheWait(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b, g, queued := gatedBatcher(t, srv, 1)
	b.wait, b.waitFailed = 1, errors.New("no reply within 1ns")
	first := holdFirst(t, b, g)
	replies := queueEchoes(t, b, queued, 1, background)
	if err := (<-replies[0]).Err(); err == nil || err.Error() != "no reply within 1ns" {
		t.Fatalf("queued past the bound: %v", err)
	}
	b.wait = 0 // the later call of checkNotSent waits as long as it takes
	close(g.release)
	<-first[0]
	checkNotSent(t, b, g, srv)
}

// Many callers at once, with the scripts flushed now and then: every reply
// is its own caller's, whatever batches formed.
func TestScriptBatcherUnderConcurrency(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	b := newScriptBatcher(c)
	raw := srv.NewClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				if w == 0 && i%50 == 0 {
					_ = raw.ScriptFlush(ctx).Err()
				}
				want := fmt.Sprintf("w%d-%d", w, i)
				got, err := b.run(ctx, echoScript, []string{"k:" + want}, []any{want}).Text()
				if err != nil || got != want {
					errs <- fmt.Errorf("%s got %q, %v", want, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
