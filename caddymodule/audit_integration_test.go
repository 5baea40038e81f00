package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/store/redistest"
)

// auditStack is payguard on one alipay route with the given global
// payguard lines, logging JSON to a file the test reads.
func auditStack(t *testing.T, globalLines string) (base string, shop *recorder, logFile string) {
	t.Helper()
	keysFor(t)
	shop = newRecorder(t)
	logFile = filepath.Join(t.TempDir(), "caddy.log")
	port := freePort(t)
	startCaddy(t, fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	log {
		output file %s
		format json
	}
	payguard {
		%s
	}
}
http://127.0.0.1:%d {
	payguard alipay {
		app_id 2021000000000001
		public_key_file %s
		max_body 64KiB
	}
	reverse_proxy %s
}
`, logFile, globalLines, port, testKeys.alipayPubFile, strings.TrimPrefix(shop.srv.URL, "http://")))
	return fmt.Sprintf("http://127.0.0.1:%d", port), shop, logFile
}

// floodUnsigned posts n unsigned 60 KB bodies of control bytes: JSON
// escaping made each one a ~390 KB audit record.
func floodUnsigned(t *testing.T, url string, n int) {
	t.Helper()
	junk := bytes.Repeat([]byte{0x01, 0x02, 0x1f}, 20000)
	for i := 0; i < n; i++ {
		resp, _ := postForm(t, url, junk, nil)
		if resp.StatusCode != 400 || resp.Header.Get("Payguard-Reason") != "malformed" {
			t.Fatalf("junk %d: %d %s", i, resp.StatusCode, resp.Header.Get("Payguard-Reason"))
		}
	}
}

// Issue 10 item 1: unsigned junk must not fill the Redis that holds the
// claims. On an LRU Redis it evicted every evt key (the next retry of a
// finished notification was forwarded again); on a noeviction one it made
// Redis refuse writes (every genuine notification 503). payguard also says
// at start which policy the Redis has.
func TestUnsignedFloodLeavesClaimsAlone(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "noeviction"} {
		t.Run(policy, func(t *testing.T) {
			srv := redistest.Start(t, "--maxmemory", "16mb", "--maxmemory-policy", policy, "--stream-node-max-entries", "10")
			base, shop, logFile := auditStack(t, "store redis "+srv.URL()+"\n\t\taudit redis_stream payguard:audit {\n\t\t\tmaxlen 20\n\t\t}")
			logged, _ := os.ReadFile(logFile)
			policyError := bytes.Contains(logged, []byte(`"maxmemory_policy":"`+policy+`"`)) && bytes.Contains(logged, []byte(`"level":"error"`))
			if policyError != (policy != "noeviction") {
				t.Fatalf("policy %s: error logged %v; log:\n%s", policy, policyError, logged)
			}

			done := mustSign(t, signer(), notifyParams("n-flood-done", "order-f1", "TF1", "1.00"))
			resp, ack := postForm(t, base+"/", done, nil)
			want(t, resp, ack, 200, "forwarded", "success")

			floodUnsigned(t, base+"/", 300)

			resp, ack = postForm(t, base+"/", done, nil)
			want(t, resp, ack, 200, "duplicate", "success")
			fresh := mustSign(t, signer(), notifyParams("n-flood-new", "order-f2", "TF2", "2.00"))
			resp, ack = postForm(t, base+"/", fresh, nil)
			want(t, resp, ack, 200, "forwarded", "success")
			if shop.count() != 2 {
				t.Fatalf("shop got %d, want 2", shop.count())
			}

			c := srv.NewClient(t)
			if n := c.XLen(context.Background(), "payguard:audit").Val(); n > 40 {
				t.Fatalf("audit stream holds %d entries with maxlen 20", n)
			}
			entries := c.XRevRangeN(context.Background(), "payguard:audit", "+", "-", 5).Val()
			for _, e := range entries {
				var rec struct {
					Reason string `json:"reason"`
					Body   string `json:"body"`
				}
				if err := json.Unmarshal([]byte(e.Values["record"].(string)), &rec); err != nil {
					t.Fatal(err)
				}
				if rec.Reason == "malformed" && len(rec.Body) > pipeline.MaxUnverifiedAuditBody {
					t.Fatalf("unsigned body kept %d bytes", len(rec.Body))
				}
			}
		})
	}
}

// The bound holds for the file sink on the memory store too.
func TestUnsignedAuditBodyBoundedInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	base, _, _ := auditStack(t, "store memory\n\t\taudit file "+path)
	floodUnsigned(t, base+"/", 3)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d records", len(lines))
	}
	for _, l := range lines {
		var rec struct{ Body string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Body) > pipeline.MaxUnverifiedAuditBody || len(l) > 8*pipeline.MaxUnverifiedAuditBody {
			t.Fatalf("record of %d bytes, body %d", len(l), len(rec.Body))
		}
	}
}

// The audit stream may live in its own Redis, so audit records never take
// memory from the claims; that Redis is checked at start too.
func TestAuditStreamOwnRedis(t *testing.T) {
	audRedis := redistest.Start(t, "--maxmemory-policy", "volatile-lru")
	base, _, logFile := auditStack(t, "store memory\n\t\taudit redis_stream pg:audit {\n\t\t\turl "+audRedis.URL()+"\n\t\t}")
	body := mustSign(t, signer(), notifyParams("n-own", "order-o", "TO", "1.00"))
	resp, ack := postForm(t, base+"/", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	if n := audRedis.NewClient(t).XLen(context.Background(), "pg:audit").Val(); n != 1 {
		t.Fatalf("own audit Redis holds %d records", n)
	}
	logged, _ := os.ReadFile(logFile)
	if !bytes.Contains(logged, []byte(`"maxmemory_policy":"volatile-lru"`)) || !bytes.Contains(logged, []byte(`"redis":"audit stream"`)) {
		t.Fatalf("no policy error for the audit Redis:\n%s", logged)
	}
}

// A Redis that refuses CONFIG GET cannot be checked: a warning says so.
func TestEvictionPolicyUncheckableWarns(t *testing.T) {
	srv := redistest.Start(t, "--rename-command", "CONFIG", "")
	_, _, logFile := auditStack(t, "store redis "+srv.URL())
	logged, _ := os.ReadFile(logFile)
	if !bytes.Contains(logged, []byte(`"level":"warn"`)) || !bytes.Contains(logged, []byte("could not check the Redis maxmemory-policy")) {
		t.Fatalf("no warning:\n%s", logged)
	}
}
