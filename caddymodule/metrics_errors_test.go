package caddymodule_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/store/redistest"
)

// errorsStack runs payguard with an admin endpoint, the given payguard
// app lines and one Alipay route; it returns the route's URL and the
// admin endpoint's.
func errorsStack(t *testing.T, appLines string) (notify, admin string) {
	t.Helper()
	keysFor(t)
	shop := newRecorder(t)
	port, adminPort := freePort(t), freePort(t)
	globals := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n\tlog {\n\t\toutput discard\n\t}\n\tpayguard {\n\t\t%s\n\t}\n}\n", adminPort, appLines)
	startCaddy(t, globals+fmt.Sprintf(`http://127.0.0.1:%d {
	payguard alipay {
		app_id 2021000000000001
		public_key_file %s
	}
	reverse_proxy %s
}
`, port, testKeys.alipayPubFile, strings.TrimPrefix(shop.srv.URL, "http://")))
	return fmt.Sprintf("http://127.0.0.1:%d/", port), fmt.Sprintf("http://127.0.0.1:%d", adminPort)
}

const (
	redisErrors  = `payguard_store_errors_total{store="redis"}`
	memoryErrors = `payguard_store_errors_total{store="memory"}`
	auditErrors  = `payguard_audit_errors_total`
)

// delta scrapes admin again and checks how much each series went up
// since before.
func delta(t *testing.T, admin string, before map[string]float64, want map[string]float64) map[string]float64 {
	t.Helper()
	after := scrape(t, admin)
	for series, d := range want {
		if _, ok := after[series]; !ok {
			t.Errorf("%s not exposed", series)
		}
		if got := after[series] - before[series]; got != d {
			t.Errorf("%s went up by %v, want %v", series, got, d)
		}
	}
	return after
}

// TestStoreErrorsScraped: with the store's Redis (which also holds the
// audit stream) stopped, a notification is answered 503 and both its
// claim and its audit record count as errors on the running instance's
// /metrics; with the Redis back, nothing more is counted.
func TestStoreErrorsScraped(t *testing.T) {
	srv := redistest.Start(t)
	notify, admin := errorsStack(t, "store redis "+srv.URL()+"\n\t\taudit redis_stream payguard:audit")
	before := scrape(t, admin)
	if _, ok := before[redisErrors]; !ok {
		t.Fatalf("%s not exposed before the first failure", redisErrors)
	}

	srv.Stop()
	body := mustSign(t, signer(), notifyParams("se-1", "store-errors-1", "SE1", "3.00"))
	resp, ack := postForm(t, notify, body, nil)
	want(t, resp, ack, 503, "store_unavailable", "fail")
	after := delta(t, admin, before, map[string]float64{redisErrors: 1, auditErrors: 1})

	srv.Restart()
	resp, ack = postForm(t, notify, body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	delta(t, admin, after, map[string]float64{redisErrors: 0, auditErrors: 0})

	for series := range scrape(t, admin) {
		if strings.HasPrefix(series, "payguard_store_errors_total{") && series != redisErrors && series != memoryErrors {
			t.Errorf("unexpected store label: %s", series)
		}
	}
}

// TestAuditErrorsScraped: an audit file that takes no write (a full
// disk: /dev/full answers every write with ENOSPC) loses each record, and
// each one is counted; the notification itself is forwarded all the same,
// and the memory store counts no error.
func TestAuditErrorsScraped(t *testing.T) {
	notify, admin := errorsStack(t, "store memory\n\t\taudit file /dev/full")
	before := scrape(t, admin)
	if _, ok := before[auditErrors]; !ok {
		t.Fatalf("%s not exposed before the first failure", auditErrors)
	}
	body := mustSign(t, signer(), notifyParams("ae-1", "audit-errors-1", "AE1", "4.00"))
	resp, ack := postForm(t, notify, body, nil)
	want(t, resp, ack, 200, "forwarded", "success")
	resp, ack = postForm(t, notify, body, nil)
	want(t, resp, ack, 200, "duplicate", "success")
	delta(t, admin, before, map[string]float64{auditErrors: 2, memoryErrors: 0})
}
