package caddyfileopts

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/recovery"
	"github.com/payguard/payguard/internal/route"
	"github.com/payguard/payguard/internal/storage"
)

// dispenser is src's tokens with the first (the option's name) read.
func dispenser(src string) *caddyfile.Dispenser {
	d := caddyfile.NewTestDispenser(src)
	d.Next()
	return d
}

func TestStore(t *testing.T) {
	for src, want := range map[string]storage.StoreConfig{
		"store memory":                 {Type: "memory"},
		"store redis redis://r:6379/0": {Type: "redis", URL: "redis://r:6379/0"},
		"store redis {\n\taddrs a:1 b:2\n\tmaster_name m\n\tkey_prefix p:\n}": {Type: "redis", Addrs: []string{"a:1", "b:2"}, MasterName: "m", KeyPrefix: "p:"},
	} {
		got, err := Store(dispenser(src))
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("%q: %+v, %v", src, got, err)
		}
	}
	for src, want := range map[string]string{
		"store":                        "wrong argument count or unexpected line ending after 'store', at Testfile:1",
		"store memory x":               "wrong argument count or unexpected line ending after 'x', at Testfile:1",
		"store disk":                   `payguard: unknown store "disk" (memory or redis), at Testfile:1`,
		"store redis u v":              "wrong argument count or unexpected line ending after 'v', at Testfile:1",
		"store redis u {\n\tpool 3\n}": `payguard store redis: unknown option "pool", at Testfile:2`,
		"store redis u {\n\taddrs a\n\taddrs b\n}": "payguard store redis: addrs given twice, at Testfile:3",
	} {
		if _, err := Store(dispenser(src)); errText(err) != want {
			t.Errorf("%q: %v, want %s", src, err, want)
		}
	}
	// The store's own rules (storage.Validate) name the line too.
	if _, err := Store(dispenser("store redis")); err == nil || !strings.HasSuffix(err.Error(), "at Testfile:1") {
		t.Errorf("redis without an address: %v", err)
	}
}

func TestAudit(t *testing.T) {
	for src, want := range map[string]storage.AuditConfig{
		"audit file /var/log/a.jsonl":                             {Type: "file", Path: "/var/log/a.jsonl"},
		"audit redis_stream s {\n\tmaxlen 10\n\turl redis://r\n}": {Type: "redis_stream", Stream: "s", MaxLen: 10, URL: "redis://r"},
	} {
		got, err := Audit(dispenser(src))
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("%q: %+v, %v", src, got, err)
		}
	}
	for src, want := range map[string]string{
		"audit file":                               "wrong argument count or unexpected line ending after 'file', at Testfile:1",
		"audit file p {\n\tx 1\n}":                 "payguard audit file takes no block, at Testfile:2",
		"audit syslog x":                           `payguard: unknown audit sink "syslog" (file or redis_stream), at Testfile:1`,
		"audit redis_stream s {\n\tmaxlen 0\n}":    `payguard audit redis_stream: maxlen "0" is not a positive number of entries, at Testfile:2`,
		"audit redis_stream s {\n\tmax_len 1 2\n}": `payguard audit redis_stream: unknown option "max_len" (maxlen, url), at Testfile:2`,
	} {
		if _, err := Audit(dispenser(src)); errText(err) != want {
			t.Errorf("%q: %v, want %s", src, err, want)
		}
	}
}

func TestPolicy(t *testing.T) {
	var got []policy.Config
	for _, src := range []string{"policy \"notification.amount < 100\"", "policy \"true\""} {
		if err := Policy(dispenser(src), &got); err != nil {
			t.Fatal(err)
		}
	}
	if want := []policy.Config{policy.ConfigOf("notification.amount < 100"), policy.ConfigOf("true")}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	if err := Policy(dispenser("policy a b"), &got); errText(err) != "payguard: policy takes one .cel file or one quoted expression (`notification.amount < 100`), at Testfile:1" {
		t.Errorf("two arguments: %v", err)
	}
	if err := Policy(dispenser("policy \"notification.nope(\""), &got); err == nil || !strings.HasPrefix(err.Error(), "payguard: ") || !strings.HasSuffix(err.Error(), "at Testfile:1") || len(got) != 2 {
		t.Errorf("a policy that does not compile: %v (%d kept)", err, len(got))
	}
}

// testSpec is a provider with one option of each shape the glue reads.
var testSpec = &provider.Spec{Name: "prov", Options: []provider.Option{
	{Name: "app_id", Kind: provider.KindString, Required: true},
	{Name: "key", Kind: provider.KindSecret},
	{Name: "certs", Kind: provider.KindList},
	{Name: "mode", Kind: provider.KindEnum, Values: []string{"notify", "return"}},
	{Name: "query_key", Kind: provider.KindString, Query: true},
}}

// handlerBlock is a handler-like block (one option of its own, a query
// block) extended with testSpec's table.
func handlerBlock(table ProviderTable) *Block {
	var mine string
	b := &Block{Twice: "payguard: ", Options: []Option{
		{Name: "mine", Kind: String, To: &mine},
		{Name: "query", Kind: Grammar, Parse: func(d *caddyfile.Dispenser) error {
			return table.Extend(&Block{Twice: "payguard: query."}, true).WalkBare(d)
		}},
	}}
	return table.Extend(b, false)
}

func readProvider(src string) (ProviderTable, error) {
	table := ProviderTable{Spec: testSpec, Values: provider.Values{}, Watch: &recovery.WatchOptions{}}
	d := dispenser(src)
	d.NextArg() // the provider's name
	at := *d
	if err := handlerBlock(table).Walk(d); err != nil {
		return table, err
	}
	return table, table.Finish(&at)
}

func TestProviderTable(t *testing.T) {
	table, err := readProvider("payguard prov {\n\tapp_id {env.APP}\n\tkey_file {env.KEY}\n\tcerts a b\n\tmode return\n\tmine x\n\tquery {\n\t\tquery_key q\n\t}\n}")
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Values{"app_id": {"{env.APP}"}, "key_file": {"{env.KEY}"}, "certs": {"a", "b"}, "mode": {"return"}, "query_key": {"q"}}
	if !reflect.DeepEqual(table.Values, want) || *table.Watch != (recovery.WatchOptions{}) {
		got, _ := json.Marshal(table.Values)
		t.Fatalf("values %s, watch %+v", got, table.Watch)
	}
	// mode watch is the glue's; a watch route needs no keys.
	table, err = readProvider("payguard prov {\n\tmode watch\n\twatch_token {env.T}\n\twatch_token_file /run/t\n}")
	if err != nil || *table.Watch != (recovery.WatchOptions{Watch: true, Token: "{env.T}", TokenFile: "/run/t"}) || len(table.Values) != 0 {
		t.Fatalf("watch: %+v %v, %v", table.Watch, table.Values, err)
	}
}

func TestProviderTableRefusals(t *testing.T) {
	for src, want := range map[string]string{
		// A missing option is reported at the directive's line.
		"payguard prov {\n\tcerts a\n}":                               "prov: app_id is required, at Testfile:1",
		"payguard prov {\n\tapp_id a\n\tapp_id b\n}":                  "payguard: app_id given twice, at Testfile:3",
		"payguard prov {\n\tapp_id\n}":                                "wrong argument count or unexpected line ending after 'app_id', at Testfile:2",
		"payguard prov {\n\tcerts\n}":                                 "wrong argument count or unexpected line ending after 'certs', at Testfile:2",
		"payguard prov {\n\tapp_id a {\n\t\tx\n\t}\n}":                "prov app_id takes no block, at Testfile:3",
		"payguard prov {\n\tmode sideways\n}":                         `prov: mode must be notify or return, not "sideways", at Testfile:2`,
		"payguard prov {\n\tmode watch extra\n}":                      "wrong argument count or unexpected line ending after 'extra', at Testfile:2",
		"payguard prov {\n\tapp_id a\n\tkey k\n\tkey_file {env.K}\n}": "prov: key and key_file are both set; use one, at Testfile:1",
		"payguard prov {\n\tquery_key q\n}":                           testSpec.UnknownOption("query_key", false, route.Options).Error() + ", at Testfile:2",
		"payguard prov {\n\tquery {\n\t\tapp_id a\n\t}\n}":            testSpec.UnknownOption("app_id", true, route.QueryOptions).Error() + ", at Testfile:3",
	} {
		if _, err := readProvider(src); errText(err) != want {
			t.Errorf("%q: %v, want %s", src, err, want)
		}
	}
}

// An unknown option's error lists the route's options beside the
// provider's (route.Options, route.QueryOptions).
func TestProviderTableUnknownLists(t *testing.T) {
	_, err := readProvider("payguard prov {\n\tbogus 1\n}")
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) || !strings.Contains(err.Error(), "allow_ips") || !strings.Contains(err.Error(), "app_id") || !strings.HasSuffix(err.Error(), "at Testfile:2") {
		t.Errorf("handler block: %v", err)
	}
	_, err = readProvider("payguard prov {\n\tquery {\n\t\tbogus 1\n\t}\n}")
	if err == nil || !strings.Contains(err.Error(), "unknown query option") || !strings.Contains(err.Error(), "endpoint") || !strings.Contains(err.Error(), "query_key") {
		t.Errorf("query block: %v", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
