package caddymodule_test

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/payguard/payguard/internal/sim"
)

// scrape reads the admin endpoint's /metrics: every payguard_ sample,
// keyed by its series as exposed (labels sorted by name).
func scrape(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "payguard_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMetricsOnTheAdminEndpoint runs two payguard routes (the collectors
// registered twice in one config), one with the reverse query, sends a few
// notifications, reads the samples from Caddy's own registry through the
// admin endpoint, then reloads (a fresh registry) and reads them again.
func TestMetricsOnTheAdminEndpoint(t *testing.T) {
	keysFor(t)
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	appPriv := filepath.Join(dir, "alipay_app_private.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(appKey)
	if err := os.WriteFile(appPriv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	sandbox := alipaySandbox(t, testKeys.alipay, &appKey.PublicKey)
	book := sim.NewOrderBook()
	gwHandler, err := sim.NewServer(sim.ServerConfig{Book: book, Providers: []*sim.Provider{sandbox}})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(gwHandler)
	t.Cleanup(gw.Close)

	shop := newRecorder(t)
	port, adminPort := freePort(t), freePort(t)
	cf := fmt.Sprintf(`{
	admin 127.0.0.1:%[1]d
	auto_https off
	persist_config off
	log {
		output discard
	}
}

http://127.0.0.1:%[2]d {
	handle /alipay/notify {
		payguard alipay {
			app_id 2021000000000001
			public_key_file %[3]s
		}
		reverse_proxy %[4]s
	}
	handle /alipay/queried {
		payguard alipay {
			app_id 2021000000000001
			public_key_file %[3]s
			query {
				endpoint %[5]s/alipay/gateway.do
				timeout 2s
				private_key_file %[6]s
			}
		}
		reverse_proxy %[4]s
	}
}
`, adminPort, port, testKeys.alipayPubFile, strings.TrimPrefix(shop.srv.URL, "http://"), gw.URL, appPriv)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)

	// The collectors live for the process: earlier tests have counted
	// already, so every check is a difference from here.
	before := scrape(t, admin)
	const (
		forwarded  = `payguard_notifications_total{outcome="forwarded",provider="alipay",reason="forwarded"}`
		duplicate  = `payguard_notifications_total{outcome="duplicate",provider="alipay",reason="duplicate"}`
		badSig     = `payguard_notifications_total{outcome="rejected",provider="alipay",reason="bad_signature"}`
		verifyN    = `payguard_stage_duration_seconds_count{provider="alipay",stage="verify"}`
		claimN     = `payguard_stage_duration_seconds_count{provider="alipay",stage="claim"}`
		queryN     = `payguard_stage_duration_seconds_count{provider="alipay",stage="query"}`
		ackN       = `payguard_stage_duration_seconds_count{provider="alipay",stage="acknowledge"}`
		queryCalls = `payguard_query_duration_seconds_count{provider="alipay"}`
	)
	// Registered at provision: the query series of the route that queries.
	// (Stage series appear with their first observation.)
	if _, ok := before[queryCalls]; !ok {
		t.Fatalf("%s not exposed at start", queryCalls)
	}

	body := mustSign(t, signer(), notifyParams("m-1", "metrics-order-1", "MT1", "12.34"))
	resp, ack := postForm(t, base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	resp, ack = postForm(t, base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "duplicate", "success")
	tampered := []byte(strings.Replace(string(mustSign(t, signer(), notifyParams("m-2", "metrics-order-2", "MT2", "10.00"))),
		"total_amount=10.00", "total_amount=0.01", 1))
	resp, ack = postForm(t, base+"/alipay/notify", tampered, nil)
	want(t, resp, ack, 401, "bad_signature", "fail")

	o := sim.Order{Provider: "alipay", AppID: "2021000000000001", OutTradeNo: "metrics-order-3", Amount: 500}
	if err := sandbox.Prepare(&o, time.Now()); err != nil {
		t.Fatal(err)
	}
	book.Put(o)
	msg, err := sandbox.BuildNotify(&o, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, ack = postForm(t, base+"/alipay/queried", msg.Body, nil)
	want(t, resp, ack, 200, "forwarded", "success")

	after := scrape(t, admin)
	for series, delta := range map[string]float64{
		forwarded: 2, duplicate: 1, badSig: 1,
		verifyN: 4, claimN: 3, queryN: 1, ackN: 2, queryCalls: 1,
	} {
		if got := after[series] - before[series]; got != delta {
			t.Errorf("%s went up by %v, want %v", series, got, delta)
		}
	}
	for series := range after {
		name, labels, _ := strings.Cut(series, "{")
		switch strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count") {
		case "payguard_notifications_total", "payguard_stage_duration_seconds", "payguard_query_duration_seconds",
			"payguard_store_errors_total", "payguard_audit_errors_total":
		default:
			t.Errorf("unexpected metric %s", series)
		}
		// Bounded labels only: nothing from the request.
		for _, leak := range []string{"metrics-order", "m-1", "m-2", "MT", "127.0.0.1", "2021000000000001"} {
			if strings.Contains(labels, leak) {
				t.Errorf("%s carries %q", series, leak)
			}
		}
	}

	// A reload provisions the handlers against a fresh registry: the
	// same collectors are registered again and keep their counts.
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("reload: %v", err)
	}
	reloaded := scrape(t, admin)
	if reloaded[forwarded] != after[forwarded] || reloaded[verifyN] != after[verifyN] {
		t.Fatalf("after the reload: %v forwarded, %v verify; before it %v, %v",
			reloaded[forwarded], reloaded[verifyN], after[forwarded], after[verifyN])
	}
	body = mustSign(t, signer(), notifyParams("m-4", "metrics-order-4", "MT4", "1.00"))
	resp, ack = postForm(t, base+"/alipay/notify", body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	if got := scrape(t, admin)[forwarded] - after[forwarded]; got != 1 {
		t.Fatalf("forwarded after the reload went up by %v, want 1", got)
	}
}
