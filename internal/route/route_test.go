package route

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/pipeline"
)

func TestParseMaxBody(t *testing.T) {
	for s, want := range map[string]int64{"64KiB": 64 << 10, "1MB": 1000000, "4096": 4096, "1GiB": 1 << 30, "1B": 1} {
		if got, err := ParseMaxBody(s); err != nil || got != want {
			t.Errorf("ParseMaxBody(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"0", "0B", "2GiB", "1GiB1", "-1", "lots", ""} {
		if _, err := ParseMaxBody(s); err == nil || err.Error() != `payguard: max_body "`+s+`" is not a size between 1B and 1GiB` {
			t.Errorf("ParseMaxBody(%q) = %v", s, err)
		}
	}
}

func TestParseForward(t *testing.T) {
	if m, err := ParseForward("original"); err != nil || m != pipeline.ForwardOriginal {
		t.Errorf("original: %v, %v", m, err)
	}
	if m, err := ParseForward("normalized"); err != nil || m != pipeline.ForwardNormalized {
		t.Errorf("normalized: %v, %v", m, err)
	}
	for _, s := range []string{"", "Original", "raw"} {
		if _, err := ParseForward(s); err == nil || err.Error() != `payguard: forward must be original or normalized, not "`+s+`"` {
			t.Errorf("ParseForward(%q) = %v", s, err)
		}
	}
}

func TestCheckUpstreamSecretArg(t *testing.T) {
	for _, ok := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "{env.SHOP_SECRET}", "{file./run/secret}"} {
		if err := CheckUpstreamSecretArg(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	const secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	err := CheckUpstreamSecretArg(secret)
	if err == nil {
		t.Fatal("a bare secret was accepted")
	}
	if strings.Contains(err.Error(), secret[:8]) {
		t.Errorf("the error shows the secret: %v", err)
	}
}

func TestParseAllowIPs(t *testing.T) {
	got, err := ParseAllowIPs([]string{"10.1.2.3", "::ffff:192.0.2.1", "192.168.7.9/16", "2001:db8::1/32"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("2001:db8::/32"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.300", "10.0.0.0/33", "example.com", ""} {
		if _, err := ParseAllowIPs([]string{"10.0.0.1", bad}); err == nil || err.Error() != `allow_ips: "`+bad+`" is not an IP or CIDR` {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if got, err := ParseAllowIPs(nil); got != nil || err != nil {
		t.Errorf("none: %v, %v", got, err)
	}
}

// FuzzParseAllowIPs: never a panic; an accepted entry is one prefix,
// masked to its network.
func FuzzParseAllowIPs(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "::ffff:1.2.3.4", "10.0.0.0/8", "fe80::1%eth0", "1.2.3.4/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseAllowIPs([]string{s})
		if err != nil {
			return
		}
		if len(ps) != 1 || ps[0] != ps[0].Masked() {
			t.Fatalf("%q: %v", s, ps)
		}
	})
}

// FuzzParseMaxBody: never a panic; an accepted size is within bounds.
func FuzzParseMaxBody(f *testing.F) {
	for _, s := range []string{"64KiB", "1 MB", "1e3", "0", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseMaxBody(s); err == nil && (n < 1 || n > MaxBodyLimit) {
			t.Fatalf("%q: %d", s, n)
		}
	})
}
