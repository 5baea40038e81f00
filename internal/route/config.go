package route

import (
	"errors"
	"fmt"
	"time"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider"
)

// Config is a route's provider-independent options as the host read them
// (the handler's JSON or Caddyfile), durations converted to time.Duration;
// zero values are the defaults.
type Config struct {
	AllowIPs                                                []string
	MaxBody                                                 int64
	Tolerance, DedupTTL, ClaimLease, ForwardTimeout, MaxAge time.Duration
	Forward                                                 string
	UpstreamSecrets, UpstreamSecretFiles                    []string
	OrderNamespace                                          string
	AuditRedact                                             []string
	Query                                                   *Query
	Policies                                                []policy.Config
	OrderLookup                                             string
	OrderTimeout                                            time.Duration
}

// Query is the query block's provider-independent part; the credentials
// are the provider's options.
type Query struct {
	// Enabled: nil means on when the provider has query credentials.
	Enabled  *bool
	Endpoint string
	Timeout  time.Duration
	// Cache: nil is pipeline.DefaultQueryCache, 0 never reuses an answer.
	Cache *time.Duration
}

// Check holds the rules that need no provisioning, for the host's
// validation and again at provision.
func (c *Config) Check() error {
	if c.Forward != "" {
		if _, err := ParseForward(c.Forward); err != nil {
			return err
		}
	}
	if c.MaxBody < 0 {
		return fmt.Errorf("payguard: max_body must be positive")
	}
	if _, err := ParseAllowIPs(c.AllowIPs); err != nil {
		return fmt.Errorf("payguard: %v", err)
	}
	return nil
}

// ProviderSettings are the route's options the provider is built with:
// tolerance (default pipeline.DefaultTolerance), max_age, and the query's
// endpoint and timeout; warn gets the provider's start-up warnings.
func (c *Config) ProviderSettings(warn func(string)) provider.Settings {
	set := provider.Settings{Tolerance: c.Tolerance, MaxAge: c.MaxAge, Warn: warn}
	if set.Tolerance <= 0 {
		set.Tolerance = pipeline.DefaultTolerance
	}
	if c.Query != nil {
		set.QueryEndpoint, set.QueryTimeout = c.Query.Endpoint, c.Query.Timeout
	}
	return set
}

// ErrQueryWithoutCredentials is `query on` on a provider built without
// query credentials.
var ErrQueryWithoutCredentials = errors.New("query on, but no query credentials are configured")

// Querier is the route's query stage from the provider's querier (nil
// when it has no credentials): none under `query off`, an error under
// `query on` without one; and how long a confirmed answer is reused.
func (c *Config) Querier(q provider.Querier) (provider.Querier, time.Duration, error) {
	cache := pipeline.DefaultQueryCache
	if c.Query == nil {
		return q, cache, nil
	}
	if on := c.Query.Enabled; on != nil && !*on {
		q = nil
	} else if on != nil && q == nil {
		return nil, 0, ErrQueryWithoutCredentials
	}
	if c.Query.Cache != nil {
		cache = *c.Query.Cache
	}
	return q, cache, nil
}

// Pipeline is the pipeline's config from the route's options: allow_ips
// parsed, the upstream secrets resolved through replace (an unknown
// placeholder is an error), the policies compiled and the order lookup
// built from order_lookup through expand (the host's placeholders
// resolved, {out_trade_no} kept). The host adds the provider, the store,
// the querier, the observer and the hook.
func (c *Config) Pipeline(replace func(string) (string, error), expand func(string) string) (pipeline.Config, error) {
	allow, err := ParseAllowIPs(c.AllowIPs)
	if err != nil {
		return pipeline.Config{}, err
	}
	secrets, err := UpstreamSecrets(c.UpstreamSecrets, c.UpstreamSecretFiles, replace)
	if err != nil {
		return pipeline.Config{}, err
	}
	mode := pipeline.ForwardOriginal
	if c.Forward != "" {
		if mode, err = ParseForward(c.Forward); err != nil {
			return pipeline.Config{}, err
		}
	}
	policies, lookup, err := PolicyStages(c.Policies, expand(c.OrderLookup), c.OrderTimeout)
	if err != nil {
		return pipeline.Config{}, err
	}
	return pipeline.Config{
		Policies: policies, OrderLookup: lookup, AllowIPs: allow, MaxBody: c.MaxBody,
		Tolerance: c.Tolerance, DedupTTL: c.DedupTTL, ClaimLease: c.ClaimLease,
		ForwardTimeout: c.ForwardTimeout, MaxAge: c.MaxAge, Forward: mode,
		UpstreamSecrets: secrets, OrderNamespace: c.OrderNamespace, AuditRedact: c.AuditRedact,
	}, nil
}
