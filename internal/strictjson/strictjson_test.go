package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeAccepts(t *testing.T) {
	v, err := DecodeObject([]byte(` {"a":1.50,"b":[true,null,"x"],"c":{"d":"\u00e9"}} `))
	if err != nil {
		t.Fatal(err)
	}
	if v["a"] != json.Number("1.50") {
		t.Errorf("a = %#v, want the literal 1.50", v["a"])
	}
	arr := v["b"].([]any)
	if len(arr) != 3 || arr[0] != true || arr[1] != nil || arr[2] != "x" {
		t.Errorf("b = %#v", arr)
	}
	if v["c"].(map[string]any)["d"] != "é" {
		t.Errorf("c = %#v", v["c"])
	}
}

func TestDecodeRefuses(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	for name, in := range map[string]string{
		"empty":              ``,
		"duplicate key":      `{"a":1,"a":2}`,
		"escaped duplicate":  `{"a":1,"\u0061":2}`,
		"nested duplicate":   `{"x":{"k":1,"k":1}}`,
		"duplicate in array": `[{"k":1,"k":2}]`,
		"trailing value":     `{"a":1}{"a":2}`,
		"trailing garbage":   `{"a":1} x`,
		"invalid utf-8":      "{\"a\":\"\xff\"}",
		"too deep":           deep,
		"unterminated":       `{"a":`,
		"bare word":          `{"a":tru}`,
		"leading zero":       `{"a":01}`,
		"single quotes":      `{'a':1}`,
		"trailing comma":     `{"a":1,}`,
		"object key not str": `{1:2}`,
		"stray close":        `]`,
	} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("%s: %q accepted", name, in)
		}
	}
	if _, err := DecodeObject([]byte(`[1]`)); err == nil {
		t.Error("an array accepted as an object")
	}
}

func TestDecodeErrorsQuoteNoValues(t *testing.T) {
	_, err := Decode([]byte(`{"k":"secret-value","k":"secret-value"}`))
	if err == nil || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("err = %v", err)
	}
}

func TestInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "100": 100, "999999999999999999": 999999999999999999} {
		if got, ok := Int(json.Number(in)); !ok || got != want {
			t.Errorf("Int(%s) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []any{json.Number("-1"), json.Number("1.0"), json.Number("1e2"), json.Number("01"),
		json.Number("9999999999999999999"), "100", nil, true} {
		if _, ok := Int(in); ok {
			t.Errorf("Int(%#v) accepted", in)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[[[]]]`, `"x"`, `{"a":{"b":[1,2,{"c":null}]}}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Decode(b); err != nil {
			return
		}
		// Whatever Decode accepts is JSON: strictjson only ever narrows
		// the language.
		if !json.Valid(b) {
			t.Fatalf("Decode accepted invalid JSON %q", b)
		}
	})
}
