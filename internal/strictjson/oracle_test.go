package strictjson

// The implementation Decode had before its one-pass reader, on
// encoding/json's Decoder: the oracle FuzzDecodeMatchesEncodingJSON holds
// the reader to, decision for decision and value for value.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeEncodingJSON is the former decode: encoding/json's Decode, then a
// check of keys and depth, and on any failure the token walk, which finds
// and names the first problem.
func decodeEncodingJSON(b []byte, maxDepth int) (any, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("json: invalid UTF-8")
	}
	// encoding/json's own Decode builds the values; only whitespace may
	// follow, and then b is valid JSON, which keysUniqueAndShallow needs.
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err == nil && onlySpace(b[d.InputOffset():]) && keysUniqueAndShallow(b, maxDepth) {
		return v, nil
	}
	// The token walk finds and names the first problem.
	return decodeTokens(b, maxDepth)
}

// onlySpace reports whether b is JSON whitespace alone.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// decodeTokens is Decode by a walk over encoding/json's tokens, checking
// every rule as it goes (UTF-8 is checked by the caller).
func decodeTokens(b []byte, maxDepth int) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	p := parser{d: d, maxDepth: maxDepth}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("json: data after the value at byte %d", d.InputOffset())
	}
	return v, nil
}

// keysUniqueAndShallow reports whether b, valid JSON, has no key twice in
// one object (compared after unescaping) and no container nested deeper
// than maxDepth: the rules encoding/json does not check itself.
func keysUniqueAndShallow(b []byte, maxDepth int) bool {
	type frame struct {
		object bool
		first  int                 // where this object's keys start in keys
		set    map[string]struct{} // past smallObject keys, instead of a scan
	}
	const smallObject = 16
	var (
		stack     []frame
		keys      [][]byte // slices of b, or the unescaped copy of an escaped key
		expectKey bool
	)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if len(stack) >= maxDepth {
				return false
			}
			stack = append(stack, frame{object: b[i] == '{', first: len(keys)})
			expectKey = b[i] == '{'
		case '}', ']':
			top := stack[len(stack)-1]
			stack, keys = stack[:len(stack)-1], keys[:top.first]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			j := i + 1
			escaped := false
			for ; b[j] != '"'; j++ {
				if b[j] == '\\' {
					escaped = true
					j++
				}
			}
			if expectKey {
				key := b[i+1 : j]
				if escaped {
					var k string
					if json.Unmarshal(b[i:j+1], &k) != nil {
						return false
					}
					key = []byte(k)
				}
				top := &stack[len(stack)-1]
				if !addKey(top.first, &top.set, &keys, key, smallObject) {
					return false
				}
				expectKey = false
			}
			i = j
		}
	}
	return true
}

// addKey adds key to the object whose keys start at keys[first], false
// when it is there already. Small objects are scanned; a large one gets a
// set, so a hostile body with thousands of keys costs linear time.
func addKey(first int, set *map[string]struct{}, keys *[][]byte, key []byte, small int) bool {
	if *set != nil {
		if _, dup := (*set)[string(key)]; dup {
			return false
		}
		(*set)[string(key)] = struct{}{}
		return true
	}
	own := (*keys)[first:]
	for _, k := range own {
		if bytes.Equal(k, key) {
			return false
		}
	}
	*keys = append(*keys, key)
	if len(own)+1 > small {
		*set = make(map[string]struct{}, 2*small)
		for _, k := range (*keys)[first:] {
			(*set)[string(k)] = struct{}{}
		}
	}
	return true
}

type parser struct {
	d        *json.Decoder
	maxDepth int
}

func (p *parser) value(depth int) (any, error) {
	tok, err := p.d.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= p.maxDepth {
		return nil, fmt.Errorf("json: nested deeper than %d at byte %d", p.maxDepth, p.d.InputOffset())
	}
	switch d {
	case '{':
		return p.object(depth + 1)
	case '[':
		return p.array(depth + 1)
	}
	// The decoder reports a stray '}' or ']' as a syntax error itself;
	// this is a guard, not a reachable path.
	return nil, fmt.Errorf("json: unexpected %q at byte %d", rune(d), p.d.InputOffset())
}

func (p *parser) object(depth int) (map[string]any, error) {
	m := map[string]any{}
	for p.d.More() {
		tok, err := p.d.Token()
		if err != nil {
			return nil, p.syntax(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("json: object key is not a string at byte %d", p.d.InputOffset())
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("json: key %s occurs twice in one object", Quote(key))
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if _, err := p.d.Token(); err != nil { // the closing '}'
		return nil, p.syntax(err)
	}
	return m, nil
}

func (p *parser) array(depth int) ([]any, error) {
	a := []any{}
	for p.d.More() {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if _, err := p.d.Token(); err != nil { // the closing ']'
		return nil, p.syntax(err)
	}
	return a, nil
}

// syntax rewrites a decoder error without the input it quotes.
func (p *parser) syntax(err error) error {
	if err == io.EOF {
		return errors.New("json: unexpected end of input")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("json: syntax error at byte %d", se.Offset)
	}
	return fmt.Errorf("json: unreadable at byte %d", p.d.InputOffset())
}

// FuzzDecodeMatchesEncodingJSON: the one-pass reader accepts exactly what
// the encoding/json implementation accepted, with the same values, at
// MaxDepth and at a fuzzed smaller depth. Seeded with the JSON of every
// provider's test vectors.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a\"":1,"a\\":2}`, `[[[]]]`, `"x"`, ` 1 `, `1 2`,
		`{"a":{"a":1},"b":{"a":2}}`, `{"a":[{"b":1,"b":2}]}`, `{"":1,"":2}`, `[]`, `{}`, "\xff", `-0.5e+3`, `01`,
		`{"x":[1,"a",true,null,{"y":"\ud800"}]}`, `"\ud83d\ude00\udc00\ud800\ud800\udc00\u00e9\/\b\f\n\r\t"`,
		`{"\ud800":1,"\udc00":2}`, `[1,[2,[3,{"k":[4]}]],5]`, "\t\r\n[\n1\n]\n", `tru`, `nul`, `"\u12"`, `{"a" 1}`,
	} {
		f.Add([]byte(s), uint8(MaxDepth))
	}
	for _, s := range providerJSON(f) {
		f.Add([]byte(s), uint8(MaxDepth))
	}
	f.Add([]byte(`{"a":{"b":{"c":1}}}`), uint8(2))
	f.Add([]byte(`{"a":{"b":{"c":1}}}`), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, depth uint8) {
		for _, d := range []int{MaxDepth, int(depth % (MaxDepth + 2))} {
			got, gotErr := decode(b, d)
			want, wantErr := decodeEncodingJSON(b, d)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%q depth %d: reader error %v, encoding/json error %v", b, d, gotErr, wantErr)
			}
			if gotErr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("%q depth %d: reader %#v, encoding/json %#v", b, d, got, want)
			}
			if gotErr != nil && strings.Contains(wantErr.Error(), "UTF-8") != strings.Contains(gotErr.Error(), "UTF-8") {
				t.Fatalf("%q: reader error %v, encoding/json error %v", b, gotErr, wantErr)
			}
		}
	})
}

// providerJSON is every JSON text in the providers' test vectors: the
// files themselves and each string in them that is JSON (bodies,
// decrypted resources, answers).
func providerJSON(tb testing.TB) []string {
	files, err := filepath.Glob("../provider/*/testdata/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no provider test vectors found: %v", err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if s := strings.TrimSpace(v); strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
				out = append(out, v)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(b))
		var v any
		if json.Unmarshal(b, &v) == nil {
			walk(v)
		}
	}
	return out
}
