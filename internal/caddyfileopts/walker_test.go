package caddyfileopts

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

func testBlock(c *testConfig) *Block {
	return &Block{
		Twice: "t: ", Label: "t: ", Durations: "positive",
		Options: []Option{
			{Name: "name", Kind: String, To: &c.Name},
			{Name: "list", Kind: List, To: &c.List, Check: Each(func(s string) error {
				if s == "bad" {
					return errString("t: list refuses bad")
				}
				return nil
			})},
			{Name: "dur", Kind: Duration, To: &c.Dur},
			{Name: "cache", Kind: Duration, To: &c.Cache, ZeroOK: true},
			{Name: "schedule", Kind: Durations, To: &c.Schedule},
			{Name: "size", Kind: Size, To: &c.Size},
			{Name: "count", Kind: Count, To: &c.Count},
			{Name: "again", Kind: Grammar, Repeat: true, Parse: func(d *caddyfile.Dispenser) error {
				c.Repeated = append(c.Repeated, d.RemainingArgs()...)
				return nil
			}},
		},
		Unknownf: "t: unknown option %q (%s)", Listed: true,
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func walkTest(src string) (*testConfig, error) {
	d := caddyfile.NewTestDispenser(src)
	d.Next()
	c := &testConfig{}
	return c, testBlock(c).Walk(d)
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
	b := &Block{
		Twice: "t: ",
		Other: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			if opt != "theirs" {
				return false, nil
			}
			took = append(took, d.RemainingArgs()...)
			return true, nil
		},
		Unknown: func(d *caddyfile.Dispenser, opt string) error { return d.Errf("nobody takes %s", opt) },
	}
	d := caddyfile.NewTestDispenser("t {\n\ttheirs v\n\tmine x\n}")
	d.Next()
	if err := b.Walk(d); err == nil || err.Error() != "nobody takes mine, at Testfile:3" || !reflect.DeepEqual(took, []string{"v"}) {
		t.Fatalf("err %v, took %v", err, took)
	}
	d = caddyfile.NewTestDispenser("t {\n\ttheirs v\n\ttheirs w\n}")
	d.Next()
	if err := b.Walk(d); err == nil || err.Error() != "t: theirs given twice, at Testfile:3" {
		t.Fatalf("a repeated option of other's: %v", err)
	}
}

// FuzzWalk: the walker never panics on any block; what it accepts it
// reads the same way twice, and every refusal names a line.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{
		"t {\n\tname n\n\tlist a b\n\tdur 5m\n\tcache 0s\n\tschedule 1m 1h\n\tsize 2KiB\n\tcount 7\n\tagain x\n\tagain y z\n}",
		"t {\n\tname a\n\tname b\n}", "t {\n\tbogus {\n\t\tx\n\t}\n}", "t {\n\tdur -1s\n}", "t {\n\t}\n}", "t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tokens, err := caddyfile.Tokenize([]byte(src), "Testfile")
		if err != nil || len(tokens) == 0 {
			return
		}
		read := func() ([]byte, error) {
			d := caddyfile.NewDispenser(tokens)
			d.Next()
			c := &testConfig{}
			if err := testBlock(c).Walk(d); err != nil {
				return nil, err
			}
			return json.Marshal(c)
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
