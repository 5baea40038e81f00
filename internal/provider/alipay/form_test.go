package alipay

import (
	"reflect"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

func TestParseForm(t *testing.T) {
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
		f, err := ParseForm([]byte(c.in))
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
		_, err := ParseForm([]byte(in))
		code(t, err, reason.Malformed)
		if strings.Contains(err.Error(), in) && len(in) > 3 {
			t.Fatalf("%q: detail echoes input: %v", in, err)
		}
	}
}

func TestFormAccessors(t *testing.T) {
	f, err := ParseForm([]byte("z=1&b=&a=3&B=4"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Keys(); !reflect.DeepEqual(got, []string{"B", "a", "b", "z"}) {
		t.Fatalf("keys %q: want byte order", got)
	}
	if v, ok := f.Get("b"); !ok || len(v) != 0 {
		t.Fatal("empty value")
	}
	if _, ok := f.Get("c"); ok || f.Has("c") || !f.Has("b") {
		t.Fatal("presence")
	}
	// Values cannot be grown into each other.
	v, _ := f.Get("z")
	_ = append(v, 'X')
	if f.Value("b") != "" || f.Value("a") != "3" {
		t.Fatal("values share writable capacity")
	}
	// A long key is cut in error details.
	_, err = ParseForm([]byte(strings.Repeat("k", 500) + "=1&" + strings.Repeat("k", 500) + "=2"))
	if err == nil || len(err.Error()) > 120 {
		t.Fatalf("detail %v", err)
	}
}
