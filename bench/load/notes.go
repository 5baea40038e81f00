package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sim"
)

// repoRoot walks up from the working directory to payguard's go.mod, where
// examples/keys (the committed sandbox keys) lives.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/payguard/payguard\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the payguard repository (run from its root, or pass -keys)")
		}
		dir = parent
	}
}

// loadProvider returns the simulated provider name with the sandbox keys
// in dir.
func loadProvider(dir, name string) (*sim.Provider, error) {
	ps, err := sim.Load(dir, provider.SandboxOptions{})
	if err != nil {
		return nil, err
	}
	p, ok := sim.Find(ps, name)
	if !ok {
		return nil, fmt.Errorf("%s has no %s sandbox keys", dir, name)
	}
	return p, nil
}

// signed is one notification ready to post, and the order it is about.
type signed struct {
	order sim.Order
	msg   *sim.Message
}

// presign builds n distinct notifications (fresh order numbers, so each is
// a new event and a replay never stands in for one), signed in parallel
// now: the provider's signing is not payguard's cost. tag keeps runs apart.
func presign(p *sim.Provider, n int, tag, tamper string) ([]signed, error) {
	out := make([]signed, n)
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	step := (n + runtime.NumCPU() - 1) / runtime.NumCPU()
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				sg, err := signOne(p, tag+strconv.Itoa(i), 1234+int64(i%997), tamper, now)
				if err != nil {
					errs <- err
					return
				}
				out[i] = sg
			}
		}(lo, hi)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	// A sandbox's event ids are random within the second (WeChat Pay v3's
	// seven digits collide among a few thousand): a repeated one would be
	// answered as a duplicate, so it is signed again until it is not.
	seen := make(map[string]bool, n)
	for i := range out {
		for seen[out[i].order.EventID] {
			var err error
			if out[i], err = signOne(p, out[i].order.OutTradeNo, out[i].order.Amount, tamper, now); err != nil {
				return nil, err
			}
		}
		seen[out[i].order.EventID] = true
	}
	return out, nil
}

// signOne prepares the order outTradeNo and signs its notification.
func signOne(p *sim.Provider, outTradeNo string, amount int64, tamper string, now time.Time) (signed, error) {
	o := sim.Order{Provider: p.Name(), OutTradeNo: outTradeNo, Amount: amount}
	if err := p.Prepare(&o, now); err != nil {
		return signed{}, err
	}
	msg, err := p.BuildNotify(&o, tamper, now)
	if err != nil {
		return signed{}, err
	}
	return signed{order: o, msg: msg}, nil
}

// request turns a signed message into a request to url.
func request(url string, m *sim.Message) (*http.Request, error) {
	req, err := http.NewRequest(m.Method, url, bytes.NewReader(m.Body))
	if err != nil {
		return nil, err
	}
	for k, v := range m.Header {
		req.Header[k] = v
	}
	return req, nil
}
