package recovery

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
)

// WatchOptions are a mode watch route's own options. They sit with the
// provider's options in its JSON ("mode": "watch", "watch_token" or
// "watch_token_file", DESIGN.md section 11) and are read before the
// provider's option table, so they work for every recoverable provider; a
// provider's own "mode" (alipay's notify|return) is not one of them.
type WatchOptions struct {
	Watch     bool
	Token     string // placeholder allowed
	TokenFile string
}

// TakeJSON consumes key from a provider's JSON options when it is one of
// the watch options; taken reports whether it was.
func (w *WatchOptions) TakeJSON(providerName, key string, raw json.RawMessage) (taken bool, err error) {
	var s string
	switch key {
	case "mode", "watch_token", "watch_token_file":
		if err := json.Unmarshal(raw, &s); err != nil {
			return key != "mode", fmt.Errorf("%s: %s must be a string", providerName, key)
		}
	default:
		return false, nil
	}
	switch key {
	case "mode":
		if s != "watch" {
			return false, nil // the provider's own mode
		}
		w.Watch = true
	case "watch_token":
		w.Token = s
	case "watch_token_file":
		w.TokenFile = s
	}
	return true, nil
}

// PutJSON writes the options back in the shape TakeJSON reads.
func (w WatchOptions) PutJSON(out map[string]any) {
	if w.Watch {
		out["mode"] = "watch"
	}
	if w.Token != "" {
		out["watch_token"] = w.Token
	}
	if w.TokenFile != "" {
		out["watch_token_file"] = w.TokenFile
	}
}

// ResolveToken is the watch token: watch_token with its placeholders
// resolved through replace, or watch_token_file's content, trimmed.
func (w WatchOptions) ResolveToken(replace func(string) (string, error)) ([]byte, error) {
	if w.Token != "" {
		v, err := replace(w.Token)
		if err != nil {
			return nil, errors.New("watch_token: " + err.Error())
		}
		return []byte(v), nil
	}
	path, err := replace(w.TokenFile)
	if err != nil {
		return nil, errors.New("watch_token_file: " + err.Error())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.New("watch_token_file: cannot read " + path)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// InlineSecrets names watch_token when it is written inline rather than
// as a placeholder (for the host's warning: its admin API shows it).
func (w WatchOptions) InlineSecrets() []string {
	if w.Token != "" && !provider.HasPlaceholder(w.Token) {
		return []string{"watch_token"}
	}
	return nil
}

// RouteOptions are what recovery's rules look at on one route.
type RouteOptions struct {
	Provider    string
	Recoverable bool // the provider queries by order number
	// MerchantOption is the provider's identity option (Spec.MerchantOption)
	// and Merchant its value as configured.
	MerchantOption, Merchant string
	OrderNamespace           string
	Watch                    WatchOptions
	Recover                  bool // a recover block
	Schedule                 []time.Duration
	DeliverTo                string
}

// CheckRoute holds the rules that need no provisioning, for a host to run
// once the route's config is read and again at provision.
func CheckRoute(o RouteOptions) error {
	name, w := o.Provider, o.Watch
	switch {
	case (o.Recover || w.Watch) && !o.Recoverable:
		return fmt.Errorf("payguard %s: lost-callback recovery (recover, mode watch) needs a query by order number, which %s does not offer", name, name)
	case w.Watch && o.Recover:
		return fmt.Errorf("payguard %s: a mode watch route answers by itself; its recover block belongs on the notify route", name)
	case w.Watch && (w.Token == "") == (w.TokenFile == ""):
		return fmt.Errorf("payguard %s: mode watch needs watch_token or watch_token_file (one of them)", name)
	case !w.Watch && (w.Token != "" || w.TokenFile != ""):
		return fmt.Errorf("payguard %s: watch_token belongs to a mode watch route", name)
	case w.Watch && o.OrderNamespace == "" && o.MerchantOption != "" && o.Merchant == "":
		return fmt.Errorf("payguard %s: a mode watch route needs %s (or order_namespace), so that its namespace is the notify route's", name, o.MerchantOption)
	}
	if o.Recover {
		if _, err := Schedule(o.Schedule); err != nil {
			return fmt.Errorf("payguard %s: %v", name, err)
		}
		if u := o.DeliverTo; u != "" && !provider.HasPlaceholder(u) &&
			!strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("payguard %s: recover deliver_to %q is not an http(s) URL", name, u)
		}
	}
	return nil
}

// Schedule is the recover block's schedule: its offsets, positive and
// ascending, or DefaultSchedule when none is given.
func Schedule(offsets []time.Duration) ([]time.Duration, error) {
	for i, d := range offsets {
		if d <= 0 || (i > 0 && d <= offsets[i-1]) {
			return nil, fmt.Errorf("recover schedule offsets must be positive and ascending")
		}
	}
	if len(offsets) == 0 {
		return DefaultSchedule, nil
	}
	return offsets, nil
}

// PollFor is how often a worker looks for due watches to honour the
// schedule's first offset: a quarter of it, between 10ms and DefaultPoll.
func PollFor(schedule []time.Duration) time.Duration {
	return min(max(schedule[0]/4, 10*time.Millisecond), DefaultPoll)
}

// Namespace is the route's order namespace as its notifications have it:
// pipeline.Namespace of order_namespace, the provider and the merchant
// its identity option configures, placeholders resolved through replace.
func (o RouteOptions) Namespace(replace func(string) (string, error)) (string, error) {
	merchant := ""
	if o.MerchantOption != "" {
		v, err := replace(o.Merchant)
		if err != nil {
			return "", fmt.Errorf("payguard %s: %s: %v", o.Provider, o.MerchantOption, err)
		}
		merchant = v
	}
	return pipeline.Namespace(o.OrderNamespace, o.Provider, merchant), nil
}

// GuardLease is how long a route's guard holds a transaction: past every
// forward (forward_timeout) and the claim that follows it (claim_lease),
// each at its default when zero.
func GuardLease(forwardTimeout, claimLease time.Duration) time.Duration {
	return cmp.Or(forwardTimeout, pipeline.DefaultForwardTimeout) + cmp.Or(claimLease, pipeline.DefaultClaimLease)
}

// WatchRoute builds the route's `mode watch` handler: its token and
// namespace resolved through replace, cfg bringing the rest. An empty
// allow list is taken, with a warning.
func (o RouteOptions) WatchRoute(cfg WatchRouteConfig, replace func(string) (string, error)) (*WatchRoute, error) {
	tok, err := o.Watch.ResolveToken(replace)
	if err != nil {
		return nil, errors.New("payguard " + o.Provider + ": " + err.Error())
	}
	ns, err := o.Namespace(replace)
	if err != nil {
		return nil, err
	}
	cfg.Provider, cfg.Namespace, cfg.Token = o.Provider, ns, tok
	wr, err := NewWatchRoute(cfg)
	if err != nil {
		return nil, errors.New("payguard " + o.Provider + ": " + err.Error())
	}
	if len(cfg.Allow) == 0 {
		wr.cfg.Logger.Warn("allow_ips is empty: watch registrations are accepted from any source address", zap.String("provider", o.Provider))
	}
	return wr, nil
}

// Worker builds the worker of the route's recover block: its schedule
// (Schedule's defaults) and the poll that honours it, deliver_to and the
// namespace resolved through replace, cfg bringing the rest; routes
// learns the route's pair, so that its notifications start watches.
func (o RouteOptions) Worker(cfg Config, routes *Routes, replace func(string) (string, error)) (*Worker, error) {
	sched, err := Schedule(o.Schedule)
	if err != nil {
		return nil, fmt.Errorf("payguard %s: %v", o.Provider, err)
	}
	deliverTo, err := replace(o.DeliverTo)
	if err != nil {
		return nil, errors.New("payguard " + o.Provider + ": recover deliver_to: " + err.Error())
	}
	ns, err := o.Namespace(replace)
	if err != nil {
		return nil, err
	}
	cfg.Provider, cfg.Namespace, cfg.Schedule, cfg.DeliverTo, cfg.Poll = o.Provider, ns, sched, deliverTo, PollFor(sched)
	w, err := New(cfg)
	if err != nil {
		return nil, errors.New("payguard " + o.Provider + ": " + err.Error())
	}
	routes.Add(ns, o.Provider, sched)
	return w, nil
}
