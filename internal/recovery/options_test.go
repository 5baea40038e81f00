package recovery

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWatchOptionsJSON(t *testing.T) {
	var w WatchOptions
	for key, raw := range map[string]string{"mode": `"watch"`, "watch_token": `"{env.T}"`, "watch_token_file": `"/run/t"`} {
		if taken, err := w.TakeJSON("prov", key, json.RawMessage(raw)); !taken || err != nil {
			t.Fatalf("%s: %v, %v", key, taken, err)
		}
	}
	if w != (WatchOptions{Watch: true, Token: "{env.T}", TokenFile: "/run/t"}) {
		t.Fatalf("took %+v", w)
	}
	out := map[string]any{}
	w.PutJSON(out)
	if !reflect.DeepEqual(out, map[string]any{"mode": "watch", "watch_token": "{env.T}", "watch_token_file": "/run/t"}) {
		t.Errorf("put %v", out)
	}
	// The provider's own mode, and its other options, are not taken.
	var other WatchOptions
	for key, raw := range map[string]string{"mode": `"return"`, "app_id": `"x"`} {
		if taken, err := other.TakeJSON("prov", key, json.RawMessage(raw)); taken || err != nil {
			t.Errorf("%s %s: taken %v, %v", key, raw, taken, err)
		}
	}
	out = map[string]any{}
	other.PutJSON(out)
	if len(out) != 0 || other.Watch {
		t.Errorf("nothing set, yet %v %+v", out, other)
	}
	// A number where a string belongs: an error; a non-string mode is the
	// provider's to refuse.
	if taken, err := other.TakeJSON("prov", "watch_token", json.RawMessage(`1`)); !taken || err == nil || err.Error() != "prov: watch_token must be a string" {
		t.Errorf("watch_token 1: %v, %v", taken, err)
	}
	if taken, err := other.TakeJSON("prov", "mode", json.RawMessage(`1`)); taken || err == nil {
		t.Errorf("mode 1: %v, %v", taken, err)
	}
}

func TestResolveToken(t *testing.T) {
	replace := func(s string) (string, error) {
		if strings.Contains(s, "{env.NOPE}") {
			return "", errors.New("unknown placeholder")
		}
		return strings.ReplaceAll(s, "{env.T}", "tok-from-env"), nil
	}
	if tok, err := (WatchOptions{Token: "{env.T}"}).ResolveToken(replace); err != nil || string(tok) != "tok-from-env" {
		t.Errorf("token: %q, %v", tok, err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("  tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := (WatchOptions{TokenFile: file}).ResolveToken(replace); err != nil || string(tok) != "tok-from-file" {
		t.Errorf("file: %q, %v", tok, err)
	}
	for _, c := range []struct {
		w    WatchOptions
		want string
	}{
		{WatchOptions{Token: "{env.NOPE}"}, "watch_token: unknown placeholder"},
		{WatchOptions{TokenFile: "{env.NOPE}"}, "watch_token_file: unknown placeholder"},
		{WatchOptions{TokenFile: file + ".missing"}, "watch_token_file: cannot read " + file + ".missing"},
	} {
		if _, err := c.w.ResolveToken(replace); err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %q", c.w, err, c.want)
		}
	}
}

func TestCheckRoute(t *testing.T) {
	base := RouteOptions{Provider: "prov", Recoverable: true, MerchantOption: "app_id", Merchant: "m-1"}
	watch := WatchOptions{Watch: true, Token: "t"}
	with := func(f func(*RouteOptions)) RouteOptions { o := base; f(&o); return o }
	for _, c := range []struct {
		o    RouteOptions
		want string // "" = accepted
	}{
		{base, ""},
		{with(func(o *RouteOptions) { o.Watch = watch }), ""},
		{with(func(o *RouteOptions) {
			o.Recover, o.Schedule, o.DeliverTo = true, []time.Duration{time.Minute, time.Hour}, "{env.SHOP}/recovered"
		}), ""},
		{with(func(o *RouteOptions) { o.Watch, o.Merchant, o.OrderNamespace = watch, "", "shop" }), ""},
		{with(func(o *RouteOptions) { o.Recoverable, o.Recover = false, true }), "payguard prov: lost-callback recovery (recover, mode watch) needs a query by order number, which prov does not offer"},
		{with(func(o *RouteOptions) { o.Recoverable, o.Watch = false, watch }), "payguard prov: lost-callback recovery (recover, mode watch) needs a query by order number, which prov does not offer"},
		{with(func(o *RouteOptions) { o.Watch, o.Recover = watch, true }), "payguard prov: a mode watch route answers by itself; its recover block belongs on the notify route"},
		{with(func(o *RouteOptions) { o.Watch = WatchOptions{Watch: true} }), "payguard prov: mode watch needs watch_token or watch_token_file (one of them)"},
		{with(func(o *RouteOptions) { o.Watch = WatchOptions{Watch: true, Token: "t", TokenFile: "f"} }), "payguard prov: mode watch needs watch_token or watch_token_file (one of them)"},
		{with(func(o *RouteOptions) { o.Watch = WatchOptions{TokenFile: "f"} }), "payguard prov: watch_token belongs to a mode watch route"},
		{with(func(o *RouteOptions) { o.Watch, o.Merchant = watch, "" }), "payguard prov: a mode watch route needs app_id (or order_namespace), so that its namespace is the notify route's"},
		{with(func(o *RouteOptions) { o.Recover, o.Schedule = true, []time.Duration{time.Hour, time.Minute} }), "payguard prov: recover schedule offsets must be positive and ascending"},
		{with(func(o *RouteOptions) { o.Recover, o.DeliverTo = true, "ftp://shop/recovered" }), `payguard prov: recover deliver_to "ftp://shop/recovered" is not an http(s) URL`},
	} {
		err := CheckRoute(c.o)
		if got := errText(err); got != c.want {
			t.Errorf("%+v:\n got %q\nwant %q", c.o, got, c.want)
		}
	}
}

func TestScheduleAndPoll(t *testing.T) {
	if s, err := Schedule(nil); err != nil || !reflect.DeepEqual(s, DefaultSchedule) {
		t.Errorf("default: %v, %v", s, err)
	}
	for _, bad := range [][]time.Duration{{0}, {-time.Second}, {time.Minute, time.Minute}} {
		if _, err := Schedule(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	for first, want := range map[time.Duration]time.Duration{
		time.Millisecond: 10 * time.Millisecond, time.Second: 250 * time.Millisecond, time.Hour: DefaultPoll,
	} {
		if got := PollFor([]time.Duration{first, 2 * time.Hour}); got != want {
			t.Errorf("PollFor(%v) = %v, want %v", first, got, want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
