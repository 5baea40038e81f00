package store

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults ParseRedisURL applies where the URL's query does not set the
// value. They are chosen so that an unreachable Redis turns into a 503 within
// a few seconds instead of holding the provider's request (and a goroutine)
// for go-redis's defaults (five dial attempts per connection, three command
// retries, a 5s pool wait): the provider retries anyway, and nothing is
// lost by failing early.
const (
	// DefaultDialTimeout bounds one TCP (and TLS) connect.
	DefaultDialTimeout = 2 * time.Second
	// DefaultReadTimeout and DefaultWriteTimeout bound one command's socket
	// I/O; every payguard command is a short script or an XADD.
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	// DefaultPoolTimeout bounds the wait for a free pooled connection.
	DefaultPoolTimeout = 2 * time.Second
	// DefaultMaxRetries is the number of command retries after a network
	// error; one retry hides a connection the server closed while it sat
	// idle in the pool. Every store script is safe to run twice.
	DefaultMaxRetries = 1
	// DefaultDialerRetries is the number of connect attempts per new
	// connection (go-redis would make five, 100ms apart).
	DefaultDialerRetries = 1
	// DefaultProtocol is RESP2. payguard uses nothing of RESP3 (no
	// client-side caching, no pub/sub, no push notifications; its scripts
	// answer the same in both), and go-redis on RESP3 looks for pending
	// push notifications around every command and health check. A URL's
	// protocol=3 still selects RESP3.
	DefaultProtocol = 2
)

// ParseRedisURL turns the Caddyfile's `store redis <url> { addrs ...;
// master_name ... }` into options for redis.NewUniversalClient:
//
//   - redis://[user[:password]@]host[:port][/db][?options] is a standalone
//     server; rediss:// is the same over TLS (server name from the host,
//     TLS 1.2 at least). The user (an ACL user) and password, the database
//     number and go-redis's query options (dial_timeout, read_timeout,
//     pool_size, skip_verify, ...) are read from the URL.
//   - addrs, when given, replace the URL's host as the seed list and select
//     Redis Cluster; the URL then supplies only the scheme (TLS or not),
//     credentials and options, and its database must be 0, the only one a
//     cluster has. Over TLS each node is verified under its own host name.
//   - masterName selects Sentinel: addrs (or the URL's host) are the
//     sentinels, the URL's credentials and database apply to the master.
//     Sentinels are contacted without credentials. Over TLS, sentinels and
//     master alike are verified under the host they are dialed at (the
//     master at the address the sentinels announce).
//
// Error messages never contain the URL's password.
func ParseRedisURL(rawURL string, addrs []string, masterName string) (*redis.UniversalOptions, error) {
	if rawURL == "" {
		if len(addrs) == 0 {
			return nil, errors.New("store: redis: no URL and no addrs")
		}
		rawURL = "redis://"
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("store: redis: invalid URL: %v", scrub(err.Error(), rawURL))
	}
	var password string
	if u.User != nil {
		password, _ = u.User.Password()
	}
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if password != "" {
			msg = strings.ReplaceAll(msg, password, "xxxxx")
		}
		return fmt.Errorf("store: redis: %s (URL %s)", msg, u.Redacted())
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fail("scheme must be redis:// or rediss://, not %q", u.Scheme)
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fail("%v", err)
	}

	uo := universalOptions(o, masterName)
	// A zero value means "go-redis default" to go-redis; ours are shorter.
	// Negative values (disable) from the URL pass through untouched.
	setDefault(&uo.DialTimeout, DefaultDialTimeout)
	setDefault(&uo.ReadTimeout, DefaultReadTimeout)
	setDefault(&uo.WriteTimeout, DefaultWriteTimeout)
	setDefault(&uo.PoolTimeout, DefaultPoolTimeout)
	if uo.MaxRetries == 0 {
		uo.MaxRetries = DefaultMaxRetries
	}
	if uo.Protocol == 0 {
		uo.Protocol = DefaultProtocol
	}

	if len(addrs) > 0 {
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fail("addrs: %q is not host:port", a)
			}
		}
		uo.Addrs = append([]string(nil), addrs...)
		if masterName == "" {
			if uo.DB != 0 {
				return nil, fail("a Redis Cluster (addrs without master_name) has only database 0, the URL asks for %d", uo.DB)
			}
			uo.IsClusterMode = true
		}
	}
	if uo.TLSConfig != nil && (len(addrs) > 0 || masterName != "") {
		// Let crypto/tls take each node's name from the address it
		// dials; the URL's host is not the name of every node, and with
		// Sentinel it is a sentinel's, never the master's.
		uo.TLSConfig.ServerName = ""
	}
	return uo, nil
}

// universalOptions carries a parsed URL's client options over to the
// universal client's.
func universalOptions(o *redis.Options, masterName string) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                   []string{o.Addr},
		ClientName:              o.ClientName,
		DB:                      o.DB,
		Protocol:                o.Protocol,
		Username:                o.Username,
		Password:                o.Password,
		MaxRetries:              o.MaxRetries,
		MinRetryBackoff:         o.MinRetryBackoff,
		MaxRetryBackoff:         o.MaxRetryBackoff,
		DialTimeout:             o.DialTimeout,
		DialerRetries:           DefaultDialerRetries,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		ContextTimeoutEnabled:   true, // the pipeline's request context bounds every call
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		PoolTimeout:             o.PoolTimeout,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		TLSConfig:               o.TLSConfig,
		MasterName:              masterName,
	}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// scrub removes the password (and the userinfo it sits in) of a URL that
// did not even parse from msg.
func scrub(msg, rawURL string) string {
	rest := rawURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		if userinfo := rest[:i]; userinfo != "" {
			msg = strings.ReplaceAll(msg, userinfo, "xxxxx")
			if j := strings.Index(userinfo, ":"); j >= 0 && j+1 < len(userinfo) {
				msg = strings.ReplaceAll(msg, userinfo[j+1:], "xxxxx")
			}
		}
	}
	return msg
}
