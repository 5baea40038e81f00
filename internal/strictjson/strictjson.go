// Package strictjson parses signed JSON bodies more strictly than
// encoding/json does on its own.
//
// encoding/json keeps the last of two members with the same key, replaces
// invalid UTF-8 with U+FFFD and, when decoding into a struct, matches keys
// case-insensitively: each is a way for payguard and the shop's own parser
// to read two different values out of one signed body. Decode refuses the
// first two and returns plain maps, so callers look fields up by their
// exact key.
//
// It is the one strict JSON reader of the providers (Stripe, WeChat Pay
// v3, App Store, Ping++, Standard Webhooks, generic): a fix here reaches
// every signed body and every query answer they parse.
package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxDepth bounds nesting, so hostile input cannot exhaust the stack.
const MaxDepth = 64

// Decode parses b as exactly one JSON value (surrounding whitespace
// allowed). Objects become map[string]any, arrays []any, numbers
// json.Number (their literal text, no float rounding), and strings,
// booleans and null their Go values.
//
// It refuses invalid UTF-8 anywhere in b, a key occurring twice in one
// object (compared after unescaping, so "a" and "\u0061" are the same
// key), nesting deeper than MaxDepth, and anything after the value. Errors
// name a byte offset or a shortened key, never a value.
func Decode(b []byte) (any, error) { return decode(b, MaxDepth) }

func decode(b []byte, maxDepth int) (any, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("json: invalid UTF-8")
	}
	return decodeString(string(b), maxDepth)
}

// decodeString is decode of a text already checked to be UTF-8, whose
// strings the values slice.
func decodeString(s string, maxDepth int) (any, error) {
	// Every signed JSON body is read here, once: the reader checks the
	// grammar, the keys and the depth while it builds the values.
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	r := reader{s: s, maxDepth: maxDepth, keys: sc.keys[:0], vals: sc.vals[:0]}
	v, err := r.value(0)
	sc.keys, sc.vals = r.keys, r.vals // kept, grown or not, for the next body
	if err != nil {
		return nil, err
	}
	r.space()
	if r.i != len(s) {
		return nil, fmt.Errorf("json: data after the value at byte %d", r.i)
	}
	return v, nil
}

// Member is a member of the object Members reads: its key, unescaped,
// and its value's JSON text as it stands in the input.
type Member struct {
	Key string
	Raw string
}

// Members reads s as DecodeObject reads a body, with the same rules and
// the same errors, but builds no value: it appends the object's members
// to dst, in order, each value as its text (a slice of s). For a body of
// which a caller reads a few fields and keeps none of the maps (an
// envelope around the part it keeps); Text reads a string member, and
// Members again an object member.
func Members(s string, dst []Member) ([]Member, error) {
	ms, _, _, err := MembersAt(s, nil, dst, nil)
	return ms, err
}

// MembersAt is Members that also reads, in the same pass, the members of
// the object at path (path[0] a member of the body's object, each further
// key a member of the one before) and appends them to inner; found
// reports whether there is such an object (false where a key is absent
// or its value is not an object). For a body whose fields are in a nested
// object: reading that object's text again with Members would check the
// whole of it a second time.
func MembersAt(s string, path []string, dst, inner []Member) (members, in []Member, found bool, err error) {
	if !utf8.ValidString(s) {
		return dst, inner, false, errors.New("json: invalid UTF-8")
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	r := reader{s: s, maxDepth: MaxDepth, keys: sc.keys[:0], discard: true, collect: true, members: dst, path: path, inner: inner}
	r.space()
	object := r.i < len(s) && s[r.i] == '{'
	_, err = r.value(0)
	sc.keys, dst, inner = r.keys, r.members, r.inner
	if err != nil {
		return dst, inner, false, err
	}
	r.space()
	if r.i != len(s) {
		return dst, inner, false, fmt.Errorf("json: data after the value at byte %d", r.i)
	}
	if !object {
		return dst, inner, false, errors.New("json: the body is not an object")
	}
	return dst, inner, r.found && len(path) > 0, nil
}

// Find is the text of member key of ms (Members and MembersAt refuse a
// repeated key, so there is at most one), and whether it is there.
func Find(ms []Member, key string) (string, bool) {
	for _, m := range ms {
		if m.Key == key {
			return m.Raw, true
		}
	}
	return "", false
}

// Text is the value of raw, a member's text from Members, when it is a
// string, and false when it is another value.
func Text(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if !strings.Contains(raw, `\`) {
		return raw[1 : len(raw)-1], true // Members checked it: no escape, no quote inside
	}
	r := reader{s: raw}
	s, err := r.str()
	return s, err == nil
}

// scratch is a reader's stack of members and elements, reused from body
// to body: per body it would be an allocation the size of the widest
// object's members.
type scratch struct {
	keys []string
	vals []any
}

var scratchPool = sync.Pool{New: func() any { return &scratch{keys: make([]string, 0, 32), vals: make([]any, 0, 32)} }}

// release returns sc to the pool emptied, so it holds no value of the
// body it read, unless a hostile body grew it past what bodies need.
func (sc *scratch) release() {
	const maxKept = 1024
	if cap(sc.keys) > maxKept || cap(sc.vals) > maxKept {
		return
	}
	clear(sc.keys[:cap(sc.keys)])
	clear(sc.vals[:cap(sc.vals)])
	scratchPool.Put(sc)
}

// DecodeObject is Decode for a body that must be one JSON object.
func DecodeObject(b []byte) (map[string]any, error) { return DecodeObjectDepth(b, MaxDepth) }

// DecodeObjectDepth is DecodeObject with nesting bounded by maxDepth
// (at most MaxDepth) instead.
func DecodeObjectDepth(b []byte, maxDepth int) (map[string]any, error) {
	return asObject(decode(b, min(maxDepth, MaxDepth)))
}

// asObject is a decoded value that must be an object.
func asObject(v any, err error) (map[string]any, error) {
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("json: the body is not an object")
	}
	return m, nil
}

// DecodeObjectString is DecodeObject of a text, without the copy of it
// DecodeObject makes: the values' strings slice s. For a caller that has
// already read s with Members (a notification's fields decoded only when
// someone asks for them): it accepts exactly what Members accepts.
func DecodeObjectString(s string) (map[string]any, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("json: invalid UTF-8")
	}
	return asObject(decodeString(s, MaxDepth))
}

// Quote renders an untrusted key for an error: quoted and cut short.
func Quote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// Int reads a JSON number that is a plain non-negative integer, as
// providers write amounts in minor units and unix seconds: no sign,
// fraction, exponent or leading zero, and within int64.
func Int(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	s := string(n)
	if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}
