package alipay

import (
	"testing"
)

// Issue 10 item 5: Alipay signs no send time, so its signed notify_time is
// the Verified.EventTime the pipeline holds to max_age. Freshness is the
// pipeline's alone: the provider refuses no age itself.
func TestEventTimeIsNotifyTime(t *testing.T) {
	p := newProvider(t, nil)
	params := SampleNotifyParams(testAppID, "o-1", "1.00", testNow)
	// Three months old: verified, with its age for the pipeline to judge.
	old := testNow.AddDate(0, -3, 0)
	params["notify_time"] = old.In(beijing).Format(timeLayout)
	body, err := (&Signer{Key: alipayKey}).SignNotify(params)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.VerifyNotify(requestFor(body))
	if err != nil {
		t.Fatal(err)
	}
	if !v.EventTime.Equal(old) || !v.Timestamp.IsZero() {
		t.Fatalf("event time %v, timestamp %v; want %v and none", v.EventTime, v.Timestamp, old)
	}
}
