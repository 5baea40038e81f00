package route

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider"
)

func TestConfigCheck(t *testing.T) {
	if err := (&Config{}).Check(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Forward: "raw"}, `payguard: forward must be original or normalized, not "raw"`},
		{Config{MaxBody: -1}, "payguard: max_body must be positive"},
		{Config{AllowIPs: []string{"10.0.0.0/8", "nope"}}, `payguard: allow_ips: "nope" is not an IP or CIDR`},
	} {
		if err := c.cfg.Check(); err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %s", c.cfg, err, c.want)
		}
	}
}

func TestProviderSettings(t *testing.T) {
	warned := ""
	set := (&Config{MaxAge: time.Hour}).ProviderSettings(func(m string) { warned = m })
	if set.Tolerance != pipeline.DefaultTolerance || set.MaxAge != time.Hour || set.QueryEndpoint != "" || set.QueryTimeout != 0 {
		t.Errorf("defaults: %+v", set)
	}
	if set.Warn("w"); warned != "w" {
		t.Error("warn is not the host's")
	}
	c := &Config{Tolerance: time.Minute, Query: &Query{Endpoint: "http://q", Timeout: 2 * time.Second}}
	if set := c.ProviderSettings(nil); set.Tolerance != time.Minute || set.QueryEndpoint != "http://q" || set.QueryTimeout != 2*time.Second {
		t.Errorf("set: %+v", set)
	}
}

type querier struct{}

func (querier) QueryOrder(context.Context, *notification.Notification) (*provider.QueryResult, error) {
	return nil, nil
}

// query [on|off] against what the provider was built with, and the cache
// (nil the default, 0 never reuse).
func TestQuerier(t *testing.T) {
	on, off, zero := true, false, time.Duration(0)
	var q provider.Querier = querier{}
	for _, c := range []struct {
		name      string
		query     *Query
		built     provider.Querier
		want      provider.Querier
		wantCache time.Duration
		wantErr   error
	}{
		{"no block, credentials", nil, q, q, pipeline.DefaultQueryCache, nil},
		{"no block, none", nil, nil, nil, pipeline.DefaultQueryCache, nil},
		{"unset, credentials", &Query{}, q, q, pipeline.DefaultQueryCache, nil},
		{"off", &Query{Enabled: &off}, q, nil, pipeline.DefaultQueryCache, nil},
		{"on", &Query{Enabled: &on, Cache: &zero}, q, q, 0, nil},
		{"on without credentials", &Query{Enabled: &on}, nil, nil, 0, ErrQueryWithoutCredentials},
	} {
		got, cache, err := (&Config{Query: c.query}).Querier(c.built)
		if got != c.want || cache != c.wantCache || !errors.Is(err, c.wantErr) {
			t.Errorf("%s: %v, %v, %v", c.name, got, cache, err)
		}
	}
}

func TestPipelineConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Config{
		AllowIPs: []string{"10.1.2.3/8"}, MaxBody: 1024, Tolerance: time.Minute, DedupTTL: time.Hour,
		ClaimLease: 10 * time.Second, ForwardTimeout: 20 * time.Second, MaxAge: 2 * time.Hour,
		Forward: "normalized", UpstreamSecrets: []string{"{env.S}"}, UpstreamSecretFiles: []string{file},
		OrderNamespace: "shop", AuditRedact: []string{"buyer"},
		Policies:    []policy.Config{policy.ConfigOf("notification.amount < 100")},
		OrderLookup: "{host}/orders/{out_trade_no}", OrderTimeout: time.Second,
	}
	replace := func(s string) (string, error) {
		return strings.ReplaceAll(s, "{env.S}", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), nil
	}
	expand := func(s string) string { return strings.ReplaceAll(s, "{host}", "http://shop") }
	got, err := c.Pipeline(replace, expand)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.AllowIPs, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) ||
		got.MaxBody != 1024 || got.Tolerance != time.Minute || got.DedupTTL != time.Hour ||
		got.ClaimLease != 10*time.Second || got.ForwardTimeout != 20*time.Second || got.MaxAge != 2*time.Hour ||
		got.Forward != pipeline.ForwardNormalized || len(got.UpstreamSecrets) != 2 ||
		got.OrderNamespace != "shop" || !reflect.DeepEqual(got.AuditRedact, []string{"buyer"}) ||
		len(got.Policies) != 1 || got.OrderLookup == nil {
		t.Fatalf("pipeline config %+v", got)
	}
	if d, err := (&Config{}).Pipeline(replace, expand); err != nil || d.Forward != pipeline.ForwardOriginal || d.OrderLookup != nil || d.AllowIPs != nil {
		t.Errorf("defaults: %+v, %v", d, err)
	}
	// Each refusal names its option.
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{UpstreamSecrets: []string{"whsec_!"}}, "upstream_secret 1"},
		{Config{UpstreamSecretFiles: []string{filepath.Join(dir, "absent")}}, "upstream_secret_file 1: cannot read"},
		{Config{OrderTimeout: time.Second}, "order_timeout without order_lookup"},
		{Config{Policies: []policy.Config{policy.ConfigOf("notification.nope(")}}, "notification.nope("},
	} {
		if _, err := c.cfg.Pipeline(replace, expand); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
