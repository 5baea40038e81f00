package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/sim"
)

// start runs the shop, a persistent Redis (append-only, fsync always: a
// kill -9 of Redis loses nothing it acknowledged, so what is tested is
// payguard's behaviour across the outage, not Redis's durability) and the
// two instances a and b.
func (fs *faultStack) start(o faultOptions, ps []*sim.Provider, known map[string]bool) error {
	var err error
	if fs.dir, err = os.MkdirTemp("", "payguard-fault-"); err != nil {
		return err
	}
	fs.shop = newFaultShop(o.seed, o.claimLease*3/2, o.fwdTimeout*2,
		func(no string) bool { return known[no] }, isForgedNo)
	for _, name := range strings.Split(o.skip, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		m := slices.Index(modeNames[:], name)
		if m <= 0 {
			return fmt.Errorf("-fault-skip: no shop answer %q", name)
		}
		fs.shop.skip[m] = true
	}
	var shopAddr string
	if fs.shopSrv, shopAddr, err = serveLoopback(fs.shop); err != nil {
		return err
	}
	if fs.redis, err = startRedis(fs.dir, "--appendonly", "yes", "--appendfsync", "always"); err != nil {
		return err
	}
	for i, name := range []string{"a", "b"} {
		if fs.ports[i], err = freePort(); err != nil {
			return err
		}
		if fs.cfs[i], err = instanceCaddyfile(o, ps, fs.redis.URL(), shopAddr, name, fs.ports[i]); err != nil {
			return err
		}
		s, err := startServer(fs.bin, fs.dir, "payguard-"+name, fs.cfs[i], fs.ports[i])
		if err != nil {
			return err
		}
		fs.inst[i] = s
	}
	return nil
}

// playFaults breaks things on a timeline over the window: the shop's
// faults throughout; Redis killed at 25 % and 65 % and restarted a second
// later; instance b killed with -9 while the shop holds one of its
// deliveries (armed at 45 %), restarted a second later. It returns when
// the window is over.
func (fs *faultStack) playFaults(ctx context.Context, o faultOptions, rep *faultReport, w io.Writer) error {
	start := time.Now()
	at := func(frac float64) bool {
		return sleepCtx(ctx, time.Until(start.Add(time.Duration(frac*float64(o.window)))))
	}
	fs.shop.faulty.Store(true)
	defer fs.shop.faulty.Store(false)
	outage := func() error {
		down := time.Now()
		fs.redis.stop()
		rep.RedisOutages++
		defer func() { rep.outages = append(rep.outages, [2]time.Time{down, time.Now()}) }()
		fmt.Fprintf(w, "  %6.2fs Redis killed\n", time.Since(fs.shop.started).Seconds())
		if !sleepCtx(ctx, time.Second) {
			return ctx.Err()
		}
		if err := fs.redis.launch(); err != nil {
			return fmt.Errorf("restarting Redis: %v", err)
		}
		fmt.Fprintf(w, "  %6.2fs Redis back\n", time.Since(fs.shop.started).Seconds())
		return nil
	}
	if !at(0.25) {
		return ctx.Err()
	}
	if err := outage(); err != nil {
		return err
	}
	if !at(0.45) {
		return ctx.Err()
	}
	if err := fs.killB(ctx, o, rep, start, w); err != nil {
		return err
	}
	if !at(0.65) {
		return ctx.Err()
	}
	if err := outage(); err != nil {
		return err
	}
	if !at(1) {
		return ctx.Err()
	}
	fmt.Fprintf(w, "  %6.2fs faults off\n", time.Since(fs.shop.started).Seconds())
	return nil
}

// killB waits (up to 30 % of the window) until the shop holds a delivery
// from instance b, kills b with SIGKILL, and restarts it a second later.
func (fs *faultStack) killB(ctx context.Context, o faultOptions, rep *faultReport, start time.Time, w io.Writer) error {
	fs.shop.armKill.Store(true)
	wait := time.NewTimer(o.window * 30 / 100)
	defer wait.Stop()
	select {
	case <-fs.shop.killNow:
		rep.KilledMidDelivery = true
	case <-wait.C:
		fs.shop.armKill.Store(false)
	case <-ctx.Done():
		return ctx.Err()
	}
	fs.mu.Lock()
	b := fs.inst[1]
	fs.inst[1] = nil
	fs.mu.Unlock()
	b.kill()
	// After the process is gone, not before the signal: the shop can
	// accept one of b's deliveries while b dies, and b never records it.
	rep.killedAt = time.Now()
	rep.Kills++
	fmt.Fprintf(w, "  %6.2fs instance b killed with SIGKILL (mid-delivery: %v)\n", time.Since(fs.shop.started).Seconds(), rep.KilledMidDelivery)
	if !sleepCtx(ctx, time.Second) {
		return ctx.Err()
	}
	s, err := startServer(fs.bin, fs.dir, "payguard-b2", fs.cfs[1], fs.ports[1])
	if err != nil {
		return fmt.Errorf("restarting instance b: %v", err)
	}
	fs.mu.Lock()
	fs.inst[1] = s
	fs.mu.Unlock()
	fmt.Fprintf(w, "  %6.2fs instance b back\n", time.Since(fs.shop.started).Seconds())
	return nil
}
