package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/store"
	"github.com/payguard/payguard/internal/store/redistest"
)

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		st   *StoreConfig
		au   *AuditConfig
		want string // "" = valid
	}{
		{nil, nil, ""},
		{&StoreConfig{}, nil, ""},
		{&StoreConfig{Type: "memory"}, &AuditConfig{Type: "file", Path: "a.jsonl"}, ""},
		{&StoreConfig{Type: "redis", Addrs: []string{"h:1"}}, &AuditConfig{Type: "redis_stream", Stream: "s"}, ""},
		{&StoreConfig{Type: "redis"}, nil, "payguard store redis: a URL or addrs is required"},
		{&StoreConfig{Type: "etcd"}, nil, `payguard store: unknown type "etcd" (memory or redis)`},
		{nil, &AuditConfig{Type: "file"}, "payguard audit file: a path is required"},
		{nil, &AuditConfig{Type: "redis_stream"}, "payguard audit redis_stream: a stream name is required"},
		{nil, &AuditConfig{Type: "redis_stream", Stream: "s", MaxLen: -1}, "payguard audit redis_stream: maxlen must be positive"},
		{nil, &AuditConfig{Type: "syslog"}, `payguard audit: unknown type "syslog" (file or redis_stream)`},
	} {
		err := Validate(c.st, c.au)
		if got := errString(err); got != c.want {
			t.Errorf("Validate(%+v, %+v) = %q, want %q", c.st, c.au, got, c.want)
		}
	}
}

func TestInlineSecrets(t *testing.T) {
	got := InlineSecrets(&StoreConfig{URL: "redis://:hunter2@h:6379"}, &AuditConfig{URL: "redis://:{env.PW}@h:6379"})
	if strings.Join(got, ",") != "store url (its password)" {
		t.Errorf("InlineSecrets = %q", got)
	}
	if got := InlineSecrets(nil, &AuditConfig{URL: "redis://:pw@h"}); strings.Join(got, ",") != "audit url (its password)" {
		t.Errorf("InlineSecrets(audit) = %q", got)
	}
	if got := InlineSecrets(nil, nil); got != nil {
		t.Errorf("InlineSecrets(nil, nil) = %q", got)
	}
}

// fakeReplace resolves {env.X} from vars; an unknown one is an error, and
// so is an empty result when asked.
func fakeReplace(vars map[string]string) Replace {
	return func(in string, errOnEmpty bool) (string, error) {
		out := in
		for k, v := range vars {
			out = strings.ReplaceAll(out, "{env."+k+"}", v)
		}
		if strings.Contains(out, "{env.") {
			return "", errors.New("unknown placeholder in " + in)
		}
		if errOnEmpty && out == "" {
			return "", errors.New("empty")
		}
		return out, nil
	}
}

func TestResolve(t *testing.T) {
	replace := fakeReplace(map[string]string{"URL": "redis://h:1/0", "SEEDS": "a:1 b:2", "MASTER": "mymaster"})
	got, err := StoreConfig{Type: "redis", URL: "{env.URL}", Addrs: []string{"{env.SEEDS}", "c:3"}, MasterName: "{env.MASTER}"}.Resolve(replace)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "redis://h:1/0" || got.KeyPrefix != DefaultKeyPrefix || strings.Join(got.Addrs, ",") != "a:1,b:2,c:3" || got.MasterName != "mymaster" {
		t.Errorf("Resolve = %+v", got)
	}
	// A memory store has no URL: the empty one is no error.
	if got, err := (StoreConfig{Type: "memory", KeyPrefix: "x:"}).Resolve(replace); err != nil || got.KeyPrefix != "x:" {
		t.Errorf("memory: %+v, %v", got, err)
	}
	for _, c := range []struct {
		cfg  StoreConfig
		want string
	}{
		{StoreConfig{Type: "redis", URL: "{env.NOPE}"}, "payguard store: redis url: "},
		{StoreConfig{Type: "redis", URL: "{env.URL}", Addrs: []string{"{env.NOPE}"}}, "payguard store: addrs: "},
		{StoreConfig{Type: "redis", URL: "{env.URL}", MasterName: "{env.NOPE}"}, "payguard store: master_name: "},
	} {
		if _, err := c.cfg.Resolve(replace); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Resolve(%+v) = %v, want %q...", c.cfg, err, c.want)
		}
	}
}

// TestKey: the same resolved options share a key, other options do not,
// and the key does not hold the password.
func TestKey(t *testing.T) {
	a := StoreConfig{Type: "redis", URL: "redis://:hunter2@h:1/0", KeyPrefix: "p:"}
	b := a
	if a.Key() != b.Key() {
		t.Error("equal configs, different keys")
	}
	b.KeyPrefix = "q:"
	if a.Key() == b.Key() {
		t.Error("different prefixes share a key")
	}
	if strings.Contains(a.Key(), "hunter2") || len(a.Key()) != 64 {
		t.Errorf("key %q", a.Key())
	}
}

func TestOpenStore(t *testing.T) {
	st, err := OpenStore(StoreConfig{Type: "memory", KeyPrefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// An unreachable Redis opens: requests fail closed until it is there.
	st, err = OpenStore(StoreConfig{Type: "redis", URL: "redis://127.0.0.1:1/0", KeyPrefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*store.Redis); !ok {
		t.Fatalf("redis config opened a %T", st)
	}
	if _, err := OpenStore(StoreConfig{Type: "redis", URL: "http://h"}); err == nil {
		t.Error("an http URL opened as Redis")
	}
}

func TestOpenAudit(t *testing.T) {
	dir := t.TempDir()
	replace := fakeReplace(map[string]string{"DIR": dir})
	log := zap.NewNop()
	if a, err := OpenAudit(nil, replace, nil, log); err != nil || a.Sink != audit.Discard || a.Client != nil {
		t.Fatalf("no audit: %+v, %v", a, err)
	}
	a, err := OpenAudit(&AuditConfig{Type: "file", Path: "{env.DIR}/audit.jsonl"}, replace, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Sink.Write(context.Background(), &audit.Record{EventID: "e-1"}); err != nil {
		t.Fatal(err)
	}
	a.Sink.Close()
	if data, err := os.ReadFile(filepath.Join(dir, "audit.jsonl")); err != nil || !strings.Contains(string(data), "e-1") {
		t.Fatalf("audit file: %q, %v", data, err)
	}
	if _, err := OpenAudit(&AuditConfig{Type: "file", Path: "{env.NOPE}"}, replace, nil, log); err == nil || !strings.HasPrefix(err.Error(), "payguard audit file: ") {
		t.Errorf("unresolvable path: %v", err)
	}
	if _, err := OpenAudit(&AuditConfig{Type: "redis_stream", Stream: "s"}, replace, nil, log); errString(err) != "payguard audit redis_stream needs store redis, or its own url" {
		t.Errorf("stream without a Redis: %v", err)
	}
}

// TestAuditStreamOwnRedis: a stream with its own url gets its own client
// (for the host to close), checked for eviction; with none it shares the
// store's and opens no connection.
func TestAuditStreamOwnRedis(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
	core, logs := observer.New(zapcore.WarnLevel)
	a, err := OpenAudit(&AuditConfig{Type: "redis_stream", Stream: "s", URL: srv.URL()}, fakeReplace(nil), nil, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if a.Client == nil {
		t.Fatal("a stream with its own url has no client of its own")
	}
	defer a.Client.Close()
	if err := a.Sink.Write(context.Background(), &audit.Record{EventID: "e-2"}); err != nil {
		t.Fatal(err)
	}
	if n, err := srv.NewClient(t).XLen(context.Background(), "s").Result(); err != nil || n != 1 {
		t.Fatalf("stream length %d, %v", n, err)
	}
	if e := logs.FilterMessageSnippet("not noeviction").All(); len(e) != 1 || e[0].Level != zapcore.ErrorLevel || e[0].ContextMap()["redis"] != "audit stream" {
		t.Fatalf("eviction logs: %+v", logs.All())
	}

	rs, err := store.OpenRedis(srv.URL(), nil, "", "p:")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	shared, err := OpenAudit(&AuditConfig{Type: "redis_stream", Stream: "s"}, fakeReplace(nil), rs, zap.NewNop())
	if err != nil || shared.Client != nil {
		t.Fatalf("shared stream: client %v, %v", shared.Client, err)
	}
}

// TestCheckEviction: noeviction is silent, another policy an error, an
// unreadable one a warning; each names the Redis.
func TestCheckEviction(t *testing.T) {
	for _, c := range []struct {
		args  []string
		level zapcore.Level
		n     int
	}{
		{[]string{"--maxmemory-policy", "noeviction"}, 0, 0},
		{[]string{"--maxmemory-policy", "volatile-lru"}, zapcore.ErrorLevel, 1},
		{[]string{"--rename-command", "CONFIG", ""}, zapcore.WarnLevel, 1},
	} {
		srv := redistest.Start(t, c.args...)
		core, logs := observer.New(zapcore.DebugLevel)
		CheckEviction(zap.New(core), "store", srv.NewClient(t))
		if logs.Len() != c.n {
			t.Fatalf("%v: %d logs: %+v", c.args, logs.Len(), logs.All())
		}
		if c.n == 1 && (logs.All()[0].Level != c.level || logs.All()[0].ContextMap()["redis"] != "store") {
			t.Errorf("%v: %+v", c.args, logs.All()[0])
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
