// Package route is a payguard route's provider-independent options (the
// `payguard` handler's, DESIGN.md section 3): their names, the checks of
// their values, and what they become for the pipeline. The host reads
// them from its config (Caddy's JSON or Caddyfile) and hands the values
// here; the provider's own options are its spec's (internal/provider).
package route

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/payguard/payguard/internal/pipeline"
)

// Options are the handler options every provider takes, as the Caddyfile
// writes them ("mode watch" is recover's other form); an unknown option's
// error lists them beside the provider's.
var Options = []string{
	"allow_ips", "max_body", "tolerance", "dedup_ttl", "claim_lease", "forward_timeout",
	"max_age", "forward", "upstream_secret", "upstream_secret_file", "order_namespace",
	"audit_redact", "query", "policy", "order_lookup", "order_timeout",
	"recover", "mode watch", "watch_token",
}

// QueryOptions are the query block's options every provider takes.
var QueryOptions = []string{"endpoint", "timeout", "cache"}

// MaxBodyLimit is the largest max_body accepted.
const MaxBodyLimit = 1 << 30

// ParseMaxBody reads max_body as written ("64KiB", "1MB", "4096"): a size
// from 1 byte to MaxBodyLimit.
func ParseMaxBody(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > MaxBodyLimit {
		return 0, fmt.Errorf("payguard: max_body %q is not a size between 1B and 1GiB", s)
	}
	return int64(n), nil
}

// ParseForward reads forward's word: original or normalized.
func ParseForward(s string) (pipeline.ForwardMode, error) {
	switch s {
	case "original":
		return pipeline.ForwardOriginal, nil
	case "normalized":
		return pipeline.ForwardNormalized, nil
	}
	return 0, fmt.Errorf("payguard: forward must be original or normalized, not %q", s)
}

// CheckUpstreamSecretArg checks one upstream_secret as written: a
// Standard Webhooks secret (whsec_...) or a placeholder resolved later.
// Neither the value nor a part of it is in the error.
func CheckUpstreamSecretArg(s string) error {
	if !strings.HasPrefix(s, "whsec_") && !strings.HasPrefix(s, "{") {
		return fmt.Errorf("payguard: upstream_secret must be whsec_... or a placeholder")
	}
	return nil
}

// ParseAllowIPs reads allow_ips: each an IP (IPv4-mapped IPv6 unmapped)
// or a CIDR (masked to its network).
func ParseAllowIPs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("allow_ips: %q is not an IP or CIDR", s)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("allow_ips: %q is not an IP or CIDR", s)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
