package caddymodule_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/payguard/payguard/internal/store/redistest"
)

// The Caddyfile's other two Redis topologies, end to end: `store redis`
// with no URL, only addrs (and master_name for Sentinel), adapted, loaded
// and serving Alipay notifications against real processes. Only one Caddy
// config runs per process, so none of this is parallel.

// sentinelStoreLines is the global option block for a Sentinel store.
func sentinelStoreLines(sn *redistest.Sentinel) string {
	return fmt.Sprintf("store redis {\n\t\t\taddrs %s\n\t\t\tmaster_name %s\n\t\t}", strings.Join(sn.Addrs(), " "), sn.MasterName())
}

func TestStoreTopologySentinel(t *testing.T) {
	sn := redistest.StartSentinel(t, 2)
	st := startStack(t, sentinelStoreLines(sn))
	master := sn.Master().NewClient(t)
	onceAndConcurrent(t, st, "sentinel", master)

	// The master dies: payguard fails closed; once it is back on its
	// address, found again through the sentinels, the notification goes
	// through without a reload.
	body := mustSign(t, signer(), notifyParams("n-sentinel-down", "order-sd", "TSD", "2.00"))
	sn.Master().Stop()
	resp, ack := postForm(t, st.base+"/alipay/notify", body, nil)
	want(t, resp, ack, 503, "store_unavailable", "fail")
	sn.Master().Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
		if resp.Header.Get("Payguard-Reason") != "store_unavailable" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want(t, resp, ack, 200, "forwarded", "success")
	checkDone(t, master, "n-sentinel-down")
	if n := st.shop.count(); n != 3 { // n-sentinel, n-sentinel-conc, n-sentinel-down
		t.Fatalf("shop got %d notifications, want 3", n)
	}
}

func TestStoreTopologyCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	st := startStack(t, fmt.Sprintf("store redis {\n\t\t\taddrs %s\n\t\t}", strings.Join(cluster.Addrs(), " ")))
	onceAndConcurrent(t, st, "cluster", cluster.NewClient(t))
}

// onceAndConcurrent checks the delivery guarantees through st: a valid
// notification is forwarded once and its retry is a duplicate; 20
// concurrent copies of another are delivered once. raw reads the topology's
// data directly, to show the claims were kept there.
func onceAndConcurrent(t *testing.T, st *stack, name string, raw redis.Cmdable) {
	t.Helper()
	id := "n-" + name
	body := mustSign(t, signer(), notifyParams(id, "order-"+name, "T-"+name, "12.34"))
	resp, ack := postForm(t, st.base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	resp, ack = postForm(t, st.base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "duplicate", "success")
	if n := st.shop.count(); n != 1 {
		t.Fatalf("shop got %d, want 1", n)
	}
	checkDone(t, raw, id)

	conc := id + "-conc"
	body = mustSign(t, signer(), notifyParams(conc, "order-"+name+"-conc", "T-"+name+"-conc", "3.00"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	reasons := map[string]int{}
	for range 20 {
		wg.Go(func() {
			resp, _ := postForm(t, st.base+"/alipay/notify", body, nil)
			mu.Lock()
			reasons[resp.Header.Get("Payguard-Reason")]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := st.shop.count(); n != 2 || reasons["forwarded"] != 1 {
		t.Fatalf("20 concurrent copies: shop got %d in all (want 2), reasons %v", n, reasons)
	}
	checkDone(t, raw, conc)
}

// checkDone asserts that the event's claim is completed in Redis under the
// default key prefix.
func checkDone(t *testing.T, raw redis.Cmdable, eventID string) {
	t.Helper()
	key := "payguard:alipay:evt:" + eventID
	v, err := raw.Get(context.Background(), key).Result()
	if err != nil || !strings.HasPrefix(v, "d:") {
		t.Fatalf("GET %s = %q, %v; want a completed claim", key, v, err)
	}
}

// TestStoreSeedsFromEnvironment: the seed list and master name may be
// placeholders, resolved at provision like the URL.
func TestStoreSeedsFromEnvironment(t *testing.T) {
	s := redistest.StartSentinel(t, 1)
	t.Setenv("PAYGUARD_TEST_SENTINELS", strings.Join(s.Addrs(), " "))
	t.Setenv("PAYGUARD_TEST_MASTER", s.MasterName())
	st := startStack(t, "store redis {\n\t\t\taddrs {env.PAYGUARD_TEST_SENTINELS}\n\t\t\tmaster_name {env.PAYGUARD_TEST_MASTER}\n\t\t}")
	body := mustSign(t, signer(), notifyParams("n-env-seeds", "order-env", "TE", "1.00"))
	resp, ack := postForm(t, st.base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
}
