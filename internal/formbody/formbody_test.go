package formbody

import (
	"bytes"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"a=1", map[string]string{"a": "1"}},
		{"a=", map[string]string{"a": ""}},
		{"a=1&b=2", map[string]string{"a": "1", "b": "2"}},
		{"a=x+y&b=x%2By", map[string]string{"a": "x y", "b": "x+y"}},
		{"a+b=1", map[string]string{"a b": "1"}},
		{"sign=ab==&c=%3D", map[string]string{"sign": "ab==", "c": "="}},
		{"a=%e8%af%ad&b=%E8%AF%AD", map[string]string{"a": "语", "b": "语"}},
		{"a=\xb2\xe2", map[string]string{"a": "\xb2\xe2"}}, // raw GBK bytes stay bytes
		{"a=1;b=2", map[string]string{"a": "1;b=2"}},       // ';' is no separator
		{"a=%00", map[string]string{"a": "\x00"}},
		{"%26=%26", map[string]string{"&": "&"}},
	}
	for _, c := range good {
		f, err := Parse([]byte(c.in))
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		got := map[string]string{}
		for _, k := range f.Keys() {
			got[k] = f.Value(k)
		}
		if !reflect.DeepEqual(got, c.want) || f.Len() != len(c.want) {
			t.Fatalf("%q: %q, want %q", c.in, got, c.want)
		}
	}
	bad := []string{
		"a=1&a=2", "a=1&%61=2", "a=1&a=1", "a+b=1&a%20b=2",
		"a=%", "a=%4", "a=%zz", "a=%4g", "%=1", "a=1%",
		"=1", "&a=1", "a=1&", "a=1&&b=2", "&", "a", "a=1&b",
	}
	for _, in := range bad {
		_, err := Parse([]byte(in))
		if reason.CodeOf(err, "") != reason.Malformed {
			t.Fatalf("%q: err %v, want malformed", in, err)
		}
		if strings.Contains(err.Error(), in) && len(in) > 3 {
			t.Fatalf("%q: detail echoes input: %v", in, err)
		}
	}
}

func TestFormAccessors(t *testing.T) {
	f, err := Parse([]byte("z=1&b=&a=3&B=4"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Keys(); !reflect.DeepEqual(got, []string{"B", "a", "b", "z"}) {
		t.Fatalf("keys %q: want byte order", got)
	}
	var wire []string
	for _, p := range f.Pairs() {
		wire = append(wire, p.Key)
	}
	if !reflect.DeepEqual(wire, []string{"z", "b", "a", "B"}) {
		t.Fatalf("pairs %q: want wire order", wire)
	}
	if v, ok := f.Lookup("b"); !ok || v != "" {
		t.Fatal("empty value")
	}
	if _, ok := f.Lookup("c"); ok || f.Has("c") || !f.Has("b") {
		t.Fatal("presence")
	}
	for i, want := range [][2]string{{"z", "1"}, {"b", ""}, {"a", "3"}, {"B", "4"}} {
		if k, v := f.At(i); k != want[0] || v != want[1] {
			t.Fatalf("At(%d) = %q, %q, want %q", i, k, v, want)
		}
	}
	// Adding to a parsed form keeps what it held.
	if err := f.Add("c", []byte("5")); err != nil || f.Len() != 5 || f.Value("z") != "1" || f.Value("c") != "5" || f.Add("a", nil) == nil {
		t.Fatalf("Add to a parsed form: %v, %d pairs", err, f.Len())
	}
	// A long key is cut in error details.
	_, err = Parse([]byte(strings.Repeat("k", 500) + "=1&" + strings.Repeat("k", 500) + "=2"))
	if err == nil || len(err.Error()) > 120 {
		t.Fatalf("detail %v", err)
	}
}

func TestAdd(t *testing.T) {
	f := New(2)
	if err := f.Add("k", []byte("raw {a&b}")); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("k", []byte("other")); reason.CodeOf(err, "") != reason.Malformed {
		t.Fatalf("second k: %v, want malformed", err)
	}
	if f.Len() != 1 || f.Value("k") != "raw {a&b}" {
		t.Fatalf("form after a refused Add: %d, %q", f.Len(), f.Value("k"))
	}
}

// FuzzParse: never panics; every error is malformed; anything it accepts
// url.ParseQuery reads the same way (one value per key, identical bytes),
// and re-encoding what it returns parses back to the same form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "a=1&a=2", "a=%zz", "a+b=%2B&c=%e8%af%ad", "=&=&", "a=1;b=2", "a=\xb2\xe2",
		"a", "=1", "a=1&&b", "k=%2B+%0A", "a=1&",
		"charset=utf-8&notify_id=ac05099524730693a8b330c5ecf72da9786&sign=ab%2B%3D&total_amount=2.00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		form, err := Parse(b)
		if err != nil {
			if reason.CodeOf(err, "") != reason.Malformed {
				t.Fatalf("error %v is not malformed", err)
			}
			return
		}
		vals := url.Values{}
		for _, p := range form.Pairs() {
			if vals.Has(p.Key) {
				t.Fatalf("duplicate key %q accepted", p.Key)
			}
			vals.Set(p.Key, string(p.Value))
		}
		if len(vals) != form.Len() || len(form.Keys()) != form.Len() {
			t.Fatalf("%d keys, Len %d", len(vals), form.Len())
		}
		if !bytes.Contains(b, []byte(";")) {
			std, err := url.ParseQuery(string(b))
			if err != nil {
				t.Fatalf("accepted what url.ParseQuery refuses: %v", err)
			}
			if len(std) != len(vals) {
				t.Fatalf("url.ParseQuery sees %d keys, Parse %d", len(std), len(vals))
			}
			for k, vs := range std {
				if len(vs) != 1 || vs[0] != vals.Get(k) || !form.Has(k) {
					t.Fatalf("key %q: url.ParseQuery %q, Parse %q", k, vs, vals.Get(k))
				}
			}
		}
		again, err := Parse([]byte(vals.Encode()))
		if err != nil {
			t.Fatalf("re-encoded form does not parse: %v", err)
		}
		if again.Len() != form.Len() {
			t.Fatal("round trip changed the form")
		}
		for _, k := range form.Keys() {
			if again.Value(k) != form.Value(k) {
				t.Fatalf("round trip changed %q", k)
			}
		}
	})
}

// AppendSigned joins the pairs in key order with their decoded values as
// they are, leaving out the skipped keys, empty values kept: the same
// string whether the keys arrived sorted (copied as runs of the decoded
// body), unsorted, partly sorted or were added one by one.
func TestAppendSigned(t *testing.T) {
	cases := []struct {
		skip []string
		want string
	}{
		{nil, "a=&b=2&3&c=中&sign=S&sign_type=RSA2"},
		{[]string{"sign"}, "a=&b=2&3&c=中&sign_type=RSA2"},
		{[]string{"sign", "sign_type"}, "a=&b=2&3&c=中"},
		{[]string{"a", "c"}, "b=2&3&sign=S&sign_type=RSA2"},
	}
	for _, body := range []string{
		"b=2%263&sign=S&a=&sign_type=RSA2&c=%E4%B8%AD",
		"a=&b=2%263&c=%E4%B8%AD&sign=S&sign_type=RSA2",
		"sign=S&sign_type=RSA2&a=&b=2%263&c=%E4%B8%AD",
		"c=%E4%B8%AD&sign=S&sign_type=RSA2&a=&b=2%263",
	} {
		f, err := Parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		built := New(f.Len())
		for _, p := range f.Pairs() {
			if err := built.Add(p.Key, []byte(p.Value)); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cases {
			for name, form := range map[string]*Form{"parsed": f, "built": built} {
				if got := string(form.AppendSigned([]byte("x:"), c.skip...)); got != "x:"+c.want {
					t.Errorf("%s %q, skip %v: %q, want %q", name, body, c.skip, got, "x:"+c.want)
				}
			}
		}
	}
}
