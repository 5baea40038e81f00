package main

import (
	"os"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// TestMain lets the harness re-execute this test binary as Caddy (the two
// payguard instances), as the command does with itself.
func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		caddycmd.Main()
		return
	}
	os.Exit(m.Run())
}

// TestFaultBrief is the fault harness's brief mode: a few hundred distinct
// notifications from Alipay, WeChat Pay v3 and Stripe (and forged ones)
// through two payguard instances on one Redis while Redis is killed twice,
// the shop answers 500, "fail", holds deliveries past the claim lease and
// past the forward timeout, and one instance is killed with SIGKILL while
// the shop holds its delivery. Every genuine notification must reach the
// shop exactly once, none be acknowledged before the shop took it, no
// forged one pass. The long run: go run ./bench/load -fault.
func TestFaultBrief(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	o := faultOptions{
		n: 300, forged: 30, window: 8 * time.Second, compress: 2000,
		providers: "alipay,wechatpay_v3,stripe", claimLease: 2 * time.Second,
		fwdTimeout: 4 * time.Second, twins: 10, deadline: 3 * time.Minute, seed: 1,
		keys: root + "/examples/keys",
	}
	if !forwardTimeoutSupported() {
		// Before the hardening work (issue 10: the shop's answer judged
		// per provider, the claim's lease renewed while the shop works),
		// a legacy "fail" is taken as accepted and a shop slower than
		// claim_lease gets a second copy: the long run shows both
		// (go run ./bench/load -fault); here what this build guarantees.
		o.skip = "fail,slow"
		t.Log("this build has no forward_timeout: the shop's fail and slow answers are left out")
	}
	var out strings.Builder
	rep, err := runFault(o, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	// The faults must have happened, or the guarantees were not tested.
	for m, n := range rep.ShopModes {
		if n == 0 && !strings.Contains(o.skip, modeNames[m]) {
			t.Errorf("the shop never answered %s", modeNames[m])
		}
	}
	if rep.RedisOutages != 2 || rep.Kills != 1 || !rep.KilledMidDelivery {
		t.Errorf("Redis outages %d, kills %d (mid-delivery %v): want 2, 1, true", rep.RedisOutages, rep.Kills, rep.KilledMidDelivery)
	}
	if rep.Answers["503 store_unavailable"] == 0 {
		t.Error("no store_unavailable answer: the Redis outages were never seen")
	}
	if rep.Answers["401 bad_signature"] == 0 {
		t.Error("no forged notification was refused as bad_signature")
	}
	if err := rep.verdict(); err != nil {
		t.Error(err)
	}
}
