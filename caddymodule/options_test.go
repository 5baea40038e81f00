package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// testBlock is a table with one row of each kind, the way the handler's,
// query's and the app's blocks are written.
type testConfig struct {
	Name     string
	List     []string
	Dur      caddy.Duration
	Cache    *caddy.Duration
	Schedule []caddy.Duration
	Size     int64
	Count    int64
	Repeated []string
}

func testBlock(c *testConfig) *block {
	return &block{
		twice: "t: ", label: "t: ", durations: "positive",
		options: []option{
			{name: "name", kind: kindString, to: &c.Name},
			{name: "list", kind: kindList, to: &c.List, check: each(func(s string) error {
				if s == "bad" {
					return errString("t: list refuses bad")
				}
				return nil
			})},
			{name: "dur", kind: kindDuration, to: &c.Dur},
			{name: "cache", kind: kindDuration, to: &c.Cache, zeroOK: true},
			{name: "schedule", kind: kindDurations, to: &c.Schedule},
			{name: "size", kind: kindSize, to: &c.Size},
			{name: "count", kind: kindCount, to: &c.Count},
			{name: "again", kind: kindGrammar, repeat: true, parse: func(d *caddyfile.Dispenser) error {
				c.Repeated = append(c.Repeated, d.RemainingArgs()...)
				return nil
			}},
		},
		unknownf: "t: unknown option %q (%s)", listed: true,
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func walkTest(src string) (*testConfig, error) {
	d := caddyfile.NewTestDispenser(src)
	d.Next()
	c := &testConfig{}
	return c, testBlock(c).walk(d)
}

func TestBlockWalkStoresEachKind(t *testing.T) {
	c, err := walkTest("t {\n\tname n\n\tlist a b\n\tdur 5m\n\tcache 0s\n\tschedule 1m 1h\n\tsize 2KiB\n\tcount 7\n\tagain x\n\tagain y z\n}")
	if err != nil {
		t.Fatal(err)
	}
	zero := caddy.Duration(0)
	want := &testConfig{
		Name: "n", List: []string{"a", "b"}, Dur: caddy.Duration(5 * time.Minute), Cache: &zero,
		Schedule: []caddy.Duration{caddy.Duration(time.Minute), caddy.Duration(time.Hour)},
		Size:     2048, Count: 7, Repeated: []string{"x", "y", "z"},
	}
	if !reflect.DeepEqual(c, want) {
		got, _ := json.Marshal(c)
		t.Fatalf("got %s", got)
	}
}

// Every refusal names the option's own line (the test dispenser's file
// is "Testfile").
func TestBlockWalkRefusals(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"t {\n\tname a\n\tname b\n}", "t: name given twice, at Testfile:3"},
		{"t {\n\n\tbogus 1\n}", `t: unknown option "bogus" (name, list, dur, cache, schedule, size, count, again), at Testfile:3`},
		{"t {\n\tname\n}", "wrong argument count or unexpected line ending after 'name', at Testfile:2"},
		{"t {\n\tname a b\n}", "wrong argument count or unexpected line ending after 'a', at Testfile:2"},
		{"t {\n\tlist\n}", "wrong argument count or unexpected line ending after 'list', at Testfile:2"},
		{"t {\n\tlist a bad\n}", "t: list refuses bad, at Testfile:2"},
		{"t {\n\tdur 0s\n}", `t: dur "0s" is not a positive duration, at Testfile:2`},
		{"t {\n\tdur -1s\n}", `t: dur "-1s" is not a positive duration, at Testfile:2`},
		{"t {\n\tcache -1s\n}", `t: cache "-1s" is not a positive duration, at Testfile:2`},
		{"t {\n\tschedule 1m soon\n}", `t: schedule "soon" is not a positive duration, at Testfile:2`},
		{"t {\n\tsize 0\n}", `payguard: max_body "0" is not a size between 1B and 1GiB, at Testfile:2`},
		{"t {\n\tcount 0\n}", `t: count "0" is not a positive number of entries, at Testfile:2`},
	} {
		_, err := walkTest(tc.src)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %s", tc.src, err, tc.want)
		}
	}
}

// An option the table does not hold goes to other (the provider's
// table) before it is called unknown.
func TestBlockWalkOther(t *testing.T) {
	var took []string
	b := &block{
		twice: "t: ",
		other: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			if opt != "theirs" {
				return false, nil
			}
			took = append(took, d.RemainingArgs()...)
			return true, nil
		},
		unknown: func(d *caddyfile.Dispenser, opt string) error { return d.Errf("nobody takes %s", opt) },
	}
	d := caddyfile.NewTestDispenser("t {\n\ttheirs v\n\tmine x\n}")
	d.Next()
	if err := b.walk(d); err == nil || err.Error() != "nobody takes mine, at Testfile:3" || !reflect.DeepEqual(took, []string{"v"}) {
		t.Fatalf("err %v, took %v", err, took)
	}
	d = caddyfile.NewTestDispenser("t {\n\ttheirs v\n\ttheirs w\n}")
	d.Next()
	if err := b.walk(d); err == nil || err.Error() != "t: theirs given twice, at Testfile:3" {
		t.Fatalf("a repeated option of other's: %v", err)
	}
}

// FuzzHandlerCaddyfile: the handler's walk never panics on any block, and
// what it accepts it reads the same way twice.
func FuzzHandlerCaddyfile(f *testing.F) {
	for _, s := range []string{
		"payguard alipay {\n\tapp_id 1\n\tpublic_key_file k\n\tmax_body 1KiB\n\ttolerance 5m\n}",
		"payguard alipay {\n\tquery on {\n\t\tendpoint http://x\n\t\tcache 0s\n\t}\n\tpolicy \"true\"\n}",
		"payguard alipay {\n\tmode watch\n\twatch_token t\n\trecover {\n\t\tschedule 1m 5m\n\t}\n}",
		"payguard wechatpay_v3 {\n\tforward normalized\n\tallow_ips 10.0.0.0/8\n\tupstream_secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n}",
		"payguard bogus", "payguard alipay {\n\tquery maybe\n}", "payguard alipay {\n\t}\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tokens, err := caddyfile.Tokenize([]byte(src), "Testfile")
		if err != nil || len(tokens) == 0 { // Caddy hands no directive without its name
			return
		}
		read := func() ([]byte, error) {
			h := new(Handler)
			if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
				return nil, err
			}
			return json.Marshal(h)
		}
		a, errA := read()
		b, errB := read()
		if (errA == nil) != (errB == nil) || string(a) != string(b) {
			t.Fatalf("read twice: %s (%v) then %s (%v)", a, errA, b, errB)
		}
		if errA != nil && !strings.Contains(errA.Error(), "Testfile:") {
			t.Fatalf("an error without its line: %v", errA)
		}
	})
}

// An unknown option of audit redis_stream is named as unknown whatever
// its arguments (it was once a wrong argument count when it had none or
// two), as in every block the walker reads.
func TestGlobalOptionUnknownBeforeArguments(t *testing.T) {
	for _, line := range []string{"max_len", "max_len 1", "max_len 1 2"} {
		d := caddyfile.NewTestDispenser("payguard {\n\taudit redis_stream s {\n\t\t" + line + "\n\t}\n}")
		_, err := parseGlobalOption(d, nil)
		want := `payguard audit redis_stream: unknown option "max_len" (maxlen, url), at Testfile:3`
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", line, err, want)
		}
	}
}
