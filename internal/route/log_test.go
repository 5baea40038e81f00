package route

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
)

func TestLogNotification(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ip := netip.MustParseAddr("192.0.2.7")
	n := &notification.Notification{EventID: "ev-1", OutTradeNo: "o-1", TransactionID: "t-1", Amount: 1234, Currency: "CNY", Status: notification.StatusPaid}
	LogNotification(zap.New(core), "prov", &pipeline.Result{Outcome: pipeline.OutcomeForwarded, Code: "forwarded", Notification: n, Duration: time.Millisecond}, ip)
	LogNotification(zap.New(core), "prov", &pipeline.Result{Outcome: pipeline.OutcomeRejected, Code: "bad_signature", Err: errors.New("signature mismatch"), Body: []byte("sign=SECRET")}, ip)
	LogNotification(zap.New(core), "prov", &pipeline.Result{Outcome: pipeline.OutcomeDuplicate, Code: "duplicate_payment", Notification: n, DuplicateOf: "t-0"}, ip)
	all := logs.All()
	if len(all) != 3 {
		t.Fatalf("%d lines", len(all))
	}
	f := all[0].ContextMap()
	if all[0].Level != zapcore.InfoLevel || f["provider"] != "prov" || f["reason"] != "forwarded" || f["remote_ip"] != "192.0.2.7" ||
		f["event_id"] != "ev-1" || f["amount"] != int64(1234) || f["status"] != string(notification.StatusPaid) {
		t.Errorf("forwarded: %v %v", all[0].Level, f)
	}
	f = all[1].ContextMap()
	if all[1].Level != zapcore.WarnLevel || f["detail"] != "signature mismatch" || f["event_id"] != nil {
		t.Errorf("rejected: %v %v", all[1].Level, f)
	}
	if f := all[2].ContextMap(); f["duplicate_of"] != "t-0" {
		t.Errorf("duplicate: %v", f)
	}
	for _, e := range all {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "SECRET") {
				t.Errorf("field %s holds the body: %q", k, s)
			}
		}
	}
	// Below the logger's level nothing is built.
	quiet, none := observer.New(zapcore.ErrorLevel)
	LogNotification(zap.New(quiet), "prov", &pipeline.Result{Outcome: pipeline.OutcomeRejected}, ip)
	if none.Len() != 0 {
		t.Errorf("logged below the level: %v", none.All())
	}
}

func TestWarnAtStart(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	WarnAtStart(zap.New(core), "prov", []string{"10.0.0.0/8"}, time.Hour, 72*time.Hour)
	if logs.Len() != 0 {
		t.Fatalf("a safe route warned: %v", logs.All())
	}
	WarnAtStart(zap.New(core), "prov", nil, 100*time.Hour, 72*time.Hour)
	if logs.FilterMessageSnippet("allow_ips is empty").Len() != 1 || logs.FilterMessageSnippet("max_age is longer than dedup_ttl").Len() != 1 {
		t.Errorf("warnings: %v", logs.All())
	}
}

// One warning per inline secret, naming where and the option, never a
// value.
func TestWarnInlineSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	WarnInlineSecrets(zap.New(core), "payguard prov", []string{"api_key", "upstream_secret"})
	WarnInlineSecrets(zap.New(core), "payguard app", nil)
	all := logs.All()
	if len(all) != 2 {
		t.Fatalf("%d warnings", len(all))
	}
	for i, opt := range []string{"api_key", "upstream_secret"} {
		f := all[i].ContextMap()
		if f["in"] != "payguard prov" || f["option"] != opt || len(f) != 2 || !strings.Contains(all[i].Message, "_file option") {
			t.Errorf("warning %d: %s %v", i, all[i].Message, f)
		}
	}
}
