package store

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		addrs   []string
		master  string
		check   func(t *testing.T, o *redis.UniversalOptions)
		wantErr string
	}{
		{
			name: "standalone with db",
			url:  "redis://10.0.0.5:6380/3",
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "addrs", strings.Join(o.Addrs, ","), "10.0.0.5:6380")
				eq(t, "db", o.DB, 3)
				eq(t, "tls", o.TLSConfig == nil, true)
				eq(t, "client", typeOf(o), "*redis.Client")
			},
		},
		{
			name: "defaults",
			url:  "redis://h",
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "addrs", strings.Join(o.Addrs, ","), "h:6379")
				eq(t, "dial", o.DialTimeout, DefaultDialTimeout)
				eq(t, "read", o.ReadTimeout, DefaultReadTimeout)
				eq(t, "write", o.WriteTimeout, DefaultWriteTimeout)
				eq(t, "pool", o.PoolTimeout, DefaultPoolTimeout)
				eq(t, "retries", o.MaxRetries, DefaultMaxRetries)
				eq(t, "dialer retries", o.DialerRetries, DefaultDialerRetries)
				eq(t, "context timeouts", o.ContextTimeoutEnabled, true)
				eq(t, "protocol", o.Protocol, DefaultProtocol)
			},
		},
		{
			name: "query options win over defaults",
			url:  "redis://h/0?dial_timeout=5s&read_timeout=3s&max_retries=-1&pool_size=7&protocol=3",
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "protocol", o.Protocol, 3)
				eq(t, "dial", o.DialTimeout, 5*time.Second)
				eq(t, "read", o.ReadTimeout, 3*time.Second)
				eq(t, "retries", o.MaxRetries, -1)
				eq(t, "pool", o.PoolSize, 7)
			},
		},
		{
			name: "tls and acl user",
			url:  "rediss://payguard:p%40ss@redis.example.com:6380/1",
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "user", o.Username, "payguard")
				eq(t, "password", o.Password, "p@ss")
				eq(t, "db", o.DB, 1)
				if o.TLSConfig == nil {
					t.Fatal("rediss:// without TLS")
				}
				eq(t, "server name", o.TLSConfig.ServerName, "redis.example.com")
				eq(t, "insecure", o.TLSConfig.InsecureSkipVerify, false)
			},
		},
		{
			name:  "cluster",
			url:   "rediss://:pw@ignored:1",
			addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"},
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "addrs", strings.Join(o.Addrs, ","), "10.0.0.1:7000,10.0.0.2:7000")
				eq(t, "cluster", o.IsClusterMode, true)
				eq(t, "password", o.Password, "pw")
				eq(t, "server name", o.TLSConfig.ServerName, "") // per node
				eq(t, "client", typeOf(o), "*redis.ClusterClient")
			},
		},
		{
			name:  "single cluster seed is still a cluster",
			url:   "redis://",
			addrs: []string{"10.0.0.1:7000"},
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "client", typeOf(o), "*redis.ClusterClient")
			},
		},
		{
			name:   "sentinel",
			url:    "redis://:pw@x/2",
			addrs:  []string{"10.0.0.1:26379", "10.0.0.2:26379"},
			master: "mymaster",
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "master", o.MasterName, "mymaster")
				eq(t, "db", o.DB, 2)
				eq(t, "cluster", o.IsClusterMode, false)
				eq(t, "client", typeOf(o), "*redis.Client") // a failover client
			},
		},
		{
			name:   "sentinel on the URL's host",
			url:    "redis://sentinel:26379",
			master: "mymaster",
			check: func(t *testing.T, o *redis.UniversalOptions) {
				eq(t, "addrs", strings.Join(o.Addrs, ","), "sentinel:26379")
				eq(t, "master", o.MasterName, "mymaster")
			},
		},
		{name: "empty", url: "", wantErr: "no URL"},
		{name: "scheme", url: "http://:topsecret@h", wantErr: "scheme"},
		{name: "unix", url: "unix:///tmp/redis.sock", wantErr: "scheme"},
		{name: "bad db", url: "redis://:topsecret@h/abc", wantErr: "database"},
		{name: "unknown option", url: "redis://:topsecret@h/0?frobnicate=1", wantErr: "frobnicate"},
		{name: "cluster db", url: "redis://:topsecret@h/2", addrs: []string{"a:1", "b:2"}, wantErr: "database 0"},
		{name: "bad addr", url: "redis://h", addrs: []string{"nohostport"}, wantErr: "host:port"},
		{name: "unparseable", url: "redis://user:topsecret@h:port/0", wantErr: "invalid"},
		{name: "unparseable userinfo", url: "redis://us er:topsecret@h/0", wantErr: "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseRedisURL(tc.url, tc.addrs, tc.master)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "topsecret") {
					t.Errorf("error leaks the password: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func typeOf(o *redis.UniversalOptions) string {
	c := redis.NewUniversalClient(o)
	defer c.Close()
	switch c.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// With Sentinel the URL's host is a sentinel: the master (at whatever
// address the sentinels announce) must not be verified under its name, so
// the server name is left to crypto/tls, as it is when addrs name the
// sentinels.
func TestParseRedisURLSentinelTLSServerName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		addrs []string
	}{
		{"sentinel on the URL's host", nil},
		{"sentinels in addrs", []string{"s1.example.com:26379", "s2.example.com:26379"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseRedisURL("rediss://:pw@sentinel.example.com:26379/0", tc.addrs, "mymaster")
			if err != nil {
				t.Fatal(err)
			}
			if o.TLSConfig == nil {
				t.Fatal("rediss:// without TLS")
			}
			eq(t, "server name", o.TLSConfig.ServerName, "")
			eq(t, "insecure", o.TLSConfig.InsecureSkipVerify, false)
			eq(t, "master", o.MasterName, "mymaster")
		})
	}
}
