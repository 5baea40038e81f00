package strictjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
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

// FuzzReaderAgreesWithTokenWalk: Decode (the one-pass reader) accepts
// exactly what the walk over encoding/json's tokens accepts, with the same
// values: a second oracle beside FuzzDecodeMatchesEncodingJSON's.
func FuzzReaderAgreesWithTokenWalk(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a\"":1,"a\\":2}`, `[[[]]]`, `"x"`, ` 1 `, `1 2`,
		`{"a":{"a":1},"b":{"a":2}}`, `{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k1":0}`,
		`{"a":[{"b":1,"b":2}]}`, `{"":1,"":2}`, `[]`, `{}`, `{"x":[1,"a",true,null,{"y":"\ud800"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		fast, fastErr := Decode(b)
		slow, slowErr := decodeTokens(b, MaxDepth)
		if (fastErr == nil) != (slowErr == nil) {
			t.Fatalf("%q: Decode error %v, token walk error %v", b, fastErr, slowErr)
		}
		if fastErr == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: Decode %#v, token walk %#v", b, fast, slow)
		}
	})
}

// TestDeepAndWideRefused: nesting past MaxDepth, and a repeated key in an
// object of a hundred.
func TestDeepAndWideRefused(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if _, err := Decode([]byte(deep)); err == nil {
		t.Error("nesting past MaxDepth accepted")
	}
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Decode([]byte(ok)); err != nil {
		t.Errorf("nesting at MaxDepth refused: %v", err)
	}
	var wide strings.Builder
	wide.WriteString("{")
	for i := range 100 {
		fmt.Fprintf(&wide, `"k%d":%d,`, i, i)
	}
	wide.WriteString(`"k\u0037":0}`) // "k7" again, escaped
	if _, err := Decode([]byte(wide.String())); err == nil {
		t.Error("a repeated key in a 100-key object accepted")
	}
}

// BenchmarkDecode is a Stripe-sized event through Decode (the one-pass
// reader), through the encoding/json implementation it replaced, and
// through the token walk that one fell back to.
func BenchmarkDecode(b *testing.B) {
	ev := []byte(`{"id":"evt_1PqL2x2eZvKYlo2C0d3f4g5h","object":"event","api_version":"2024-06-20","created":1717171717,"data":{"object":{"id":"pi_3PqL2x2eZvKYlo2C1abcdEFG","object":"payment_intent","amount":1234,"amount_received":1234,"currency":"usd","status":"succeeded","latest_charge":"ch_3PqL2x2eZvKYlo2C1xyz","metadata":{"out_trade_no":"order-20240601-0001"},"payment_method_types":["card"],"livemode":false,"created":1717171700}},"livemode":false,"pending_webhooks":1,"request":{"id":"req_abc123","idempotency_key":"a1b2c3"},"type":"payment_intent.succeeded"}`)
	b.Run("reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEncodingJSON(ev, MaxDepth); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tokens", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeTokens(ev, MaxDepth); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDecodeErrorNames: each refusal says which rule it broke, as the
// encoding/json implementation did (callers' details carry it).
func TestDecodeErrorNames(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":{"a":2,"a":3}}`:                                       `json: key "a" occurs twice in one object`,
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1): "json: nested deeper than 64 at byte 65",
		`{"a":1} x`:   "json: data after the value at byte 8",
		"\"\xff\"":    "json: invalid UTF-8",
		`{"a":`:       "json: unexpected end of input",
		`{"a" 1}`:     "json: syntax error at byte 5",
		`{1:2}`:       "json: object key is not a string at byte 1",
		"[\"a\x01\"]": "json: syntax error at byte 3",
		`["a\x"]`:     "json: syntax error at byte 4",
		`"\u12"`:      "json: syntax error at byte 5",
		`[1,]`:        "json: syntax error at byte 3",
	} {
		if _, err := Decode([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", in, err, want)
		}
	}
}

// TestDecodeEscapes: escapes decode as encoding/json decodes them, a lone
// or reversed surrogate to U+FFFD, and a key is compared after decoding.
func TestDecodeEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`"\ud83d\ude00"`:       "😀",
		`"\ud800"`:             "\ufffd",
		`"\udc00\ud800x"`:      "\ufffd\ufffdx",
		`"\ud800\u0041"`:       "\ufffdA",
		`"a\"\\\/\b\f\n\r\tb"`: "a\"\\/\b\f\n\r\tb",
		`"\u00E9\u00e9é"`:      "ééé",
		`"\u0000"`:             "\x00",
	} {
		v, err := Decode([]byte(in))
		if err != nil || v != want {
			t.Errorf("%s: %q, %v; want %q", in, v, err, want)
		}
	}
	if _, err := Decode([]byte(`{"\ud800":1,"\udfff":2}`)); err == nil {
		t.Error("two keys that both decode to U+FFFD accepted")
	}
}

// TestDecodeConcurrent: readers share a pool of scratch stacks, never a
// stack; run with -race. Bodies of different shapes and a refused one
// interleave, and each result must be its own body's.
func TestDecodeConcurrent(t *testing.T) {
	bodies := []string{`{"a":[1,{"b":"x"}],"c":"y"}`, `[{"k":1},{"k":2},[3,[4]]]`, `{"a":1,"a":2}`, `{"z":{"y":{"x":"w"}}}`}
	want := make([]any, len(bodies))
	for i, b := range bodies {
		want[i], _ = decodeEncodingJSON([]byte(b), MaxDepth)
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			for n := range 200 {
				i := (g + n) % len(bodies)
				got, err := Decode([]byte(bodies[i]))
				if (err == nil) != (want[i] != nil) || !reflect.DeepEqual(got, want[i]) {
					done <- fmt.Errorf("%s: %#v, %v", bodies[i], got, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestMembers: the members of an object in order, values as their text;
// Text unescapes a string member and refuses any other.
func TestMembers(t *testing.T) {
	ms, err := Members(` {"id":"evt_1","n":12.50,"o":{"k":[1,"\u00e9"]},"e":"a\"b","t":true} `, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Member{{"id", `"evt_1"`}, {"n", "12.50"}, {"o", `{"k":[1,"\u00e9"]}`}, {"e", `"a\"b"`}, {"t", "true"}}
	if !reflect.DeepEqual(ms, want) {
		t.Fatalf("members %q, want %q", ms, want)
	}
	for raw, want := range map[string]string{`"evt_1"`: "evt_1", `"a\"b"`: `a"b`, `""`: ""} {
		if got, ok := Text(raw); !ok || got != want {
			t.Errorf("Text(%s) = %q, %v", raw, got, ok)
		}
	}
	for _, raw := range []string{"12.50", `{"k":1}`, "true", "null", ""} {
		if _, ok := Text(raw); ok {
			t.Errorf("Text(%s) accepted", raw)
		}
	}
	for in, want := range map[string]string{
		`[1]`:                 "json: the body is not an object",
		`{"a":1,"a":2}`:       `json: key "a" occurs twice in one object`,
		`{"a":{"b":1,"b":2}}`: `json: key "b" occurs twice in one object`,
		`{"a":1} {}`:          "json: data after the value at byte 8",
		"{\"a\":\"\xff\"}":    "json: invalid UTF-8",
		`{"a":[1,{"c":01}]}`:  "json: syntax error at byte 14",
		`{"a":"x","b":{"c":1`: "json: unexpected end of input",
	} {
		if _, err := Members(in, nil); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", in, err, want)
		}
	}
}

// FuzzMembersMatchesDecodeObject: Members refuses what DecodeObject
// refuses, with the same error, and otherwise returns the object's
// members in order, each value's text decoding to the value DecodeObject
// built, and Text reading exactly the string members. DecodeObjectString
// (the deferred fields of a body read with Members) is DecodeObject.
func FuzzMembersMatchesDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":[1,{"b":2,"b":3}]}}`, `[1]`, `"x"`, `{} x`,
		`{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k1":0}`,
		`{"s":"a\"b\\c\u00e9\ud83d\ude00","t":"0123456789abcdef\n"}`, "{\"a\":\"\x01\"}", `{"a":"0123456789` + "\x7f\xc3\xa9" + `"}`,
		`{"id":"EV-1","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"n"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := Members(string(b), nil)
		m, want := DecodeObject(b)
		if (err == nil) != (want == nil) || (err != nil && err.Error() != want.Error()) {
			t.Fatalf("%q: Members error %v, DecodeObject error %v", b, err, want)
		}
		if _, _, _, errAt := MembersAt(string(b), []string{"a", "b"}, nil, nil); (errAt == nil) != (err == nil) || (err != nil && errAt.Error() != err.Error()) {
			t.Fatalf("%q: MembersAt error %v, Members error %v", b, errAt, err)
		}
		ms2, err2 := DecodeObjectString(string(b))
		if (err2 == nil) != (want == nil) || (err2 != nil && err2.Error() != want.Error()) || !reflect.DeepEqual(ms2, m) {
			t.Fatalf("%q: DecodeObjectString %#v, %v; DecodeObject %#v, %v", b, ms2, err2, m, want)
		}
		if err != nil {
			return
		}
		if len(ms) != len(m) {
			t.Fatalf("%q: %d members, DecodeObject %d", b, len(ms), len(m))
		}
		for _, mb := range ms {
			v, ok := m[mb.Key]
			if !ok {
				t.Fatalf("%q: member %q not in DecodeObject's map", b, mb.Key)
			}
			got, err := Decode([]byte(mb.Raw))
			if err != nil || !reflect.DeepEqual(got, v) {
				t.Fatalf("%q: member %q text %q decodes to %#v (%v), DecodeObject %#v", b, mb.Key, mb.Raw, got, err, v)
			}
			s, isString := v.(string)
			if ts, ok := Text(mb.Raw); ok != isString || ts != s {
				t.Fatalf("%q: Text(%q) = %q, %v; DecodeObject %#v", b, mb.Raw, ts, ok, v)
			}
			checkMembersAt(t, b, ms, []string{mb.Key}, mb.Raw)
			if inner, err := Members(mb.Raw, nil); err == nil {
				for _, mb2 := range inner {
					checkMembersAt(t, b, ms, []string{mb.Key, mb2.Key}, mb2.Raw)
				}
			}
			if _, isObject := v.(map[string]any); isObject {
				if inner, err := Members(mb.Raw, nil); err != nil || len(inner) != len(v.(map[string]any)) {
					t.Fatalf("%q: Members of member %q: %d, %v", b, mb.Key, len(inner), err)
				}
			}
		}
	})
}

// checkMembersAt: MembersAt of b at path reads the members Members reads
// of its text (the value at path, raw), found exactly when raw is an
// object, and the body's members as Members does.
func checkMembersAt(t *testing.T, b []byte, ms []Member, path []string, raw string) {
	t.Helper()
	want, err := Members(raw, nil)
	top, inner, found, errAt := MembersAt(string(b), path, nil, nil)
	if errAt != nil || !slices.Equal(top, ms) || found != (err == nil) || (found && !slices.Equal(inner, want)) || (!found && len(inner) != 0) {
		t.Fatalf("%q: MembersAt %q: %v, %v, found %v, %v; Members of %q: %v, %v", b, path, top, inner, found, errAt, raw, want, err)
	}
}

func TestFindReadsOneMember(t *testing.T) {
	ms, err := Members(`{"a":"x","b":{"c":1},"d":null}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a": `"x"`, "b": `{"c":1}`, "d": "null"} {
		if got, ok := Find(ms, key); !ok || got != want {
			t.Errorf("Find %q = %q, %v; want %q", key, got, ok, want)
		}
	}
	if got, ok := Find(ms, "c"); ok {
		t.Errorf("Find of a nested key: %q", got)
	}
}
