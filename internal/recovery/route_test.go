package recovery

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/store"
)

// replaceEnv resolves {env.M} and {env.T} and refuses {env.NOPE}, as the
// host's replacer would.
func replaceEnv(s string) (string, error) {
	if strings.Contains(s, "{env.NOPE}") {
		return "", errors.New("unknown placeholder")
	}
	return strings.NewReplacer("{env.M}", "m-1", "{env.T}", "0123456789abcdef0").Replace(s), nil
}

func TestWatchInlineSecrets(t *testing.T) {
	for w, want := range map[WatchOptions][]string{
		{}:                       nil,
		{Token: "{env.T}"}:       nil,
		{TokenFile: "/run/t"}:    nil,
		{Token: "0123456789abc"}: {"watch_token"},
	} {
		if got := w.InlineSecrets(); !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: %v, want %v", w, got, want)
		}
	}
}

// The namespace is pipeline.Namespace of the route's options, the
// merchant's placeholders resolved.
func TestRouteNamespace(t *testing.T) {
	for _, c := range []struct {
		o    RouteOptions
		want string
	}{
		{RouteOptions{Provider: "prov"}, "prov"},
		{RouteOptions{Provider: "prov", MerchantOption: "app_id", Merchant: "{env.M}"}, "prov:m-1"},
		{RouteOptions{Provider: "prov", MerchantOption: "app_id", Merchant: "m-1", OrderNamespace: "shop"}, "shop"},
		{RouteOptions{Provider: "prov", MerchantOption: "app_id"}, "prov"},
	} {
		if got, err := c.o.Namespace(replaceEnv); err != nil || got != c.want || got != pipeline.Namespace(c.o.OrderNamespace, "prov", strings.ReplaceAll(c.o.Merchant, "{env.M}", "m-1")) {
			t.Errorf("%+v: %q, %v; want %q", c.o, got, err, c.want)
		}
	}
	o := RouteOptions{Provider: "prov", MerchantOption: "app_id", Merchant: "{env.NOPE}"}
	if _, err := o.Namespace(replaceEnv); errText(err) != "payguard prov: app_id: unknown placeholder" {
		t.Errorf("unresolved merchant: %v", err)
	}
}

func TestGuardLease(t *testing.T) {
	for _, c := range []struct{ forward, claim, want time.Duration }{
		{0, 0, pipeline.DefaultForwardTimeout + pipeline.DefaultClaimLease},
		{time.Minute, 0, time.Minute + pipeline.DefaultClaimLease},
		{0, time.Second, pipeline.DefaultForwardTimeout + time.Second},
		{time.Minute, time.Second, time.Minute + time.Second},
	} {
		if got := GuardLease(c.forward, c.claim); got != c.want {
			t.Errorf("GuardLease(%v, %v) = %v, want %v", c.forward, c.claim, got, c.want)
		}
	}
}

func TestRouteWatchRoute(t *testing.T) {
	st := store.NewMemory("payguard:")
	t.Cleanup(func() { _ = st.Close() })
	core, logs := observer.New(zapcore.WarnLevel)
	o := RouteOptions{Provider: "prov", MerchantOption: "app_id", Merchant: "{env.M}", Watch: WatchOptions{Watch: true, Token: "{env.T}"}}
	wr, err := o.WatchRoute(WatchRouteConfig{Store: st, Routes: &Routes{}, Logger: zap.New(core)}, replaceEnv)
	if err != nil {
		t.Fatal(err)
	}
	if wr.cfg.Provider != "prov" || wr.cfg.Namespace != "prov:m-1" || string(wr.cfg.Token) != "0123456789abcdef0" {
		t.Errorf("built %+v", wr.cfg)
	}
	if n := logs.FilterMessage("allow_ips is empty: watch registrations are accepted from any source address").Len(); n != 1 {
		t.Errorf("%d warnings about the empty allow list", n)
	}
	for _, c := range []struct {
		o    RouteOptions
		want string
	}{
		{RouteOptions{Provider: "prov", Watch: WatchOptions{Watch: true, Token: "{env.NOPE}"}}, "payguard prov: watch_token: unknown placeholder"},
		{RouteOptions{Provider: "prov", Watch: WatchOptions{Watch: true, Token: "short"}}, "payguard prov: watch_token must be at least 16 characters"},
		{RouteOptions{Provider: "prov", MerchantOption: "app_id", Merchant: "{env.NOPE}", Watch: WatchOptions{Watch: true, Token: "{env.T}"}}, "payguard prov: app_id: unknown placeholder"},
	} {
		if _, err := c.o.WatchRoute(WatchRouteConfig{Store: st, Routes: &Routes{}}, replaceEnv); errText(err) != c.want {
			t.Errorf("%+v: %v, want %s", c.o, err, c.want)
		}
	}
}

// A route's worker: its schedule, poll, deliver_to and namespace from the
// route's options, its pair known to the routes; Start runs it until stop.
func TestRouteWorker(t *testing.T) {
	st := store.NewMemory("payguard:")
	t.Cleanup(func() { _ = st.Close() })
	routes := &Routes{}
	o := RouteOptions{Provider: "prov", MerchantOption: "app_id", Merchant: "{env.M}", Recover: true,
		Schedule: []time.Duration{time.Second, time.Minute}, DeliverTo: "{env.M}.example/recovered"}
	w, err := o.Worker(Config{Store: st, Querier: &fakeQuerier{}}, routes, replaceEnv)
	if err != nil {
		t.Fatal(err)
	}
	if w.cfg.Namespace != "prov:m-1" || w.cfg.DeliverTo != "m-1.example/recovered" || w.cfg.Poll != 250*time.Millisecond ||
		!reflect.DeepEqual(w.cfg.Schedule, o.Schedule) {
		t.Errorf("worker %+v", w.cfg)
	}
	if s, ok := routes.Schedule("prov:m-1", "prov"); !ok || !reflect.DeepEqual(s, o.Schedule) {
		t.Errorf("routes: %v, %v", s, ok)
	}
	w.Start()() // stop returns once the worker ended
	o.Schedule = nil
	if w, err := o.Worker(Config{Store: st, Querier: &fakeQuerier{}}, &Routes{}, replaceEnv); err != nil || !reflect.DeepEqual(w.cfg.Schedule, DefaultSchedule) {
		t.Errorf("default schedule: %v", err)
	}
	for _, c := range []struct {
		o    RouteOptions
		cfg  Config
		want string
	}{
		{RouteOptions{Provider: "prov", Schedule: []time.Duration{time.Minute, time.Second}}, Config{Store: st, Querier: &fakeQuerier{}}, "payguard prov: recover schedule offsets must be positive and ascending"},
		{RouteOptions{Provider: "prov", DeliverTo: "{env.NOPE}"}, Config{Store: st, Querier: &fakeQuerier{}}, "payguard prov: recover deliver_to: unknown placeholder"},
		{RouteOptions{Provider: "prov"}, Config{Store: st}, "payguard prov: recovery: provider, namespace, store and an order querier are required"},
	} {
		if _, err := c.o.Worker(c.cfg, &Routes{}, replaceEnv); errText(err) != c.want {
			t.Errorf("%+v: %v, want %s", c.o, err, c.want)
		}
	}
}
