package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payguard/payguard/internal/sim"
)

// players are the simulated providers of a fault run: each copy of a
// notification is delivered to one of the two instances in turn and
// retried on its provider's schedule until acknowledged.
type players struct {
	ctx    context.Context
	o      faultOptions
	fs     *faultStack
	rep    *faultReport
	client *http.Client

	mu          sync.Mutex // guards rep.Answers
	rr          atomic.Uint64
	attempts    atomic.Int64
	forgedAcked atomic.Int64
	firstErr    atomic.Value
	wg          sync.WaitGroup
}

func newPlayers(ctx context.Context, o faultOptions, fs *faultStack, rep *faultReport) *players {
	return &players{ctx: ctx, o: o, fs: fs, rep: rep,
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (pl *players) count(k string) {
	pl.mu.Lock()
	pl.rep.Answers[k]++
	pl.mu.Unlock()
}

// send signs ord now (a retry is signed afresh, as providers do) and
// delivers it once; true when the provider would take the answer as its
// success acknowledgement.
func (pl *players) send(p *sim.Provider, ord *sim.Order, tamper string) (bool, error) {
	ok, _, _, err := pl.sendTo(p, ord, tamper)
	return ok, err
}

// sendTo is send, telling also which instance answered what.
func (pl *players) sendTo(p *sim.Provider, ord *sim.Order, tamper string) (ok bool, instance, answer string, err error) {
	msg, err := p.BuildNotify(ord, tamper, time.Now())
	if err != nil {
		return false, "", "", err
	}
	pl.attempts.Add(1)
	srv := pl.fs.instance(int(pl.rr.Add(1) % 2))
	if srv == nil { // b is down: the load balancer sends to a
		srv = pl.fs.instance(0)
	}
	req, err := request(srv.URL()+"/"+p.Name(), msg)
	if err != nil {
		return false, "", "", err
	}
	resp, err := pl.client.Do(req.WithContext(pl.ctx))
	if err != nil {
		pl.count("connection error")
		return false, srv.name, "connection error", nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	answer = fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Payguard-Reason"))
	pl.count(answer)
	return ackOK(p.Name(), resp, body), srv.name, answer, nil
}

// deliverCopy sends one copy of ev after delay, retrying on schedule.
func (pl *players) deliverCopy(ev *faultEvent, delay time.Duration) {
	defer pl.wg.Done()
	if !sleepCtx(pl.ctx, delay) {
		return
	}
	sched := retrySchedules[ev.p.Name()]
	for attempt := 0; ; attempt++ {
		ok, instance, answer, err := pl.sendTo(ev.p, &ev.order, "")
		if err != nil {
			pl.firstErr.CompareAndSwap(nil, err)
			return
		}
		ev.record(time.Since(pl.fs.shop.started), instance, answer)
		if ok {
			ev.acked.CompareAndSwap(0, time.Now().UnixNano())
			return
		}
		if attempt >= len(sched) {
			ev.gave.Store(true)
			return
		}
		if !sleepCtx(pl.ctx, time.Duration(sched[attempt]*float64(time.Second)/pl.o.compress)) {
			return
		}
	}
}

// launchGenuine starts every event's first delivery at a random point of
// the window, and a concurrent second copy for twins percent of them.
func (pl *players) launchGenuine(events []*faultEvent, rng *rand.Rand) {
	for _, ev := range events {
		d := time.Duration(rng.Int64N(int64(pl.o.window)))
		pl.wg.Add(1)
		pl.rep.Copies++
		go pl.deliverCopy(ev, d)
		if rng.IntN(100) < pl.o.twins {
			pl.wg.Add(1)
			pl.rep.Copies++
			go pl.deliverCopy(ev, d+time.Duration(rng.Int64N(int64(pl.o.claimLease*2))))
		}
	}
}

// launchForged sends each forged notification once, over the window.
func (pl *players) launchForged(ps []*sim.Provider, tag string, rng *rand.Rand) error {
	now := time.Now()
	for i := range pl.o.forged {
		p := ps[i%len(ps)]
		ord := sim.Order{Provider: p.Name(), OutTradeNo: fmt.Sprintf("%s-f-%d", tag, i), Amount: 100}
		if err := p.Prepare(&ord, now); err != nil {
			return err
		}
		tamper := forgeField(p)
		d := time.Duration(rng.Int64N(int64(pl.o.window)))
		pl.wg.Add(1)
		go func() {
			defer pl.wg.Done()
			if !sleepCtx(pl.ctx, d) {
				return
			}
			if ok, err := pl.send(p, &ord, tamper); err != nil {
				pl.firstErr.CompareAndSwap(nil, err)
			} else if ok {
				pl.forgedAcked.Add(1)
			}
		}()
	}
	return nil
}
