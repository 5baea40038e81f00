package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payguard/payguard/internal/cpuclock"
)

// signingKey is a fresh RSA-2048 key and the digest of an Alipay-like
// query for the signing measurements: the signature a reverse query makes.
func signingKey() (*rsa.PrivateKey, [sha256.Size]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	return key, sha256.Sum256([]byte("app_id=2021000000000001&biz_content=...")), err
}

// rsaSignRate is how many RSA-2048 PKCS#1 v1.5 signatures per second this
// machine makes right now on every CPU: the floor of a reverse query.
func rsaSignRate(d time.Duration) float64 {
	key, digest, err := signingKey()
	if err != nil {
		return 0
	}
	var n atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// rsaSignCPU is the CPU time one RSA-2048 PKCS#1 v1.5 signature takes on
// this machine, measured on the signing thread's own clock: on two cores
// shared with the servers and the load generator, a wall-clock rate
// counts their time too, a thread's CPU time does not. It is the floor of
// a reverse query's cost, so payguard's CPU per queried notification
// divided by it says how much payguard spends beside that signature,
// whatever the machine's neighbours do. false: no thread clock here.
func rsaSignCPU(n int) (time.Duration, bool) {
	key, digest, err := signingKey()
	if err != nil {
		return 0, false
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := cpuclock.Thread()
	if !ok {
		return 0, false
	}
	for range n {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			return 0, false
		}
	}
	end, ok := cpuclock.Thread()
	if !ok || end <= start {
		return 0, false
	}
	return (end - start) / time.Duration(n), true
}
