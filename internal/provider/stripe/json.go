package stripe

import (
	"encoding/json"
	"fmt"

	"github.com/payguard/payguard/internal/strictjson"
)

// maxJSONDepth bounds nesting. Stripe's snapshots nest a handful of levels
// (event, data, object, a list, its items, their details); the bound keeps
// the recursive decoder cheap on hostile input.
const maxJSONDepth = 48

// decodeStrictObject decodes one JSON object into map[string]any with
// numbers as json.Number (ids and amounts stay exact). Unlike
// encoding/json's Unmarshal it refuses a key repeated in any object: which
// copy counts is a guess, and the shop's parser may guess differently from
// ours about a body both take as signed. Keys match exactly (Unmarshal
// into a struct folds case), and nothing may follow the object.
//
// strictjson does the work (invalid UTF-8 is refused too: Stripe sends
// none); it is the per-notification cost of a provider whose signature
// is a cheap HMAC.
func decodeStrictObject(b []byte) (map[string]any, error) {
	return strictjson.DecodeObjectDepth(b, maxJSONDepth)
}

// str reads m[key] as a string; absent and null are "". Another type is
// an error.
func str(m map[string]any, key string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", fmt.Errorf("%s is not a string", key)
}

// obj reads m[key] as an object; absent and null are nil.
func obj(m map[string]any, key string) (map[string]any, error) {
	switch v := m[key].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	}
	return nil, fmt.Errorf("%s is not an object", key)
}

// boolean reads m[key] as a bool; absent and null are false.
func boolean(m map[string]any, key string) (bool, error) {
	switch v := m[key].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	}
	return false, fmt.Errorf("%s is not a boolean", key)
}

// maxIntDigits keeps a count in int64 with room for a currency conversion.
const maxIntDigits = 16

// count reads m[key] as a non-negative JSON integer (Stripe's amounts and
// Unix times). Absent and null are (0, false). "1.0", "1e2", "-1", a
// leading zero or a string are errors: Stripe writes plain integers.
func count(m map[string]any, key string) (int64, bool, error) {
	v, present := m[key]
	if !present || v == nil {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, true, fmt.Errorf("%s is not a number", key)
	}
	s := string(n)
	if s == "" || len(s) > maxIntDigits || (len(s) > 1 && s[0] == '0') {
		return 0, true, fmt.Errorf("%s is not a non-negative integer", key)
	}
	var x int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, true, fmt.Errorf("%s is not a non-negative integer", key)
		}
		x = x*10 + int64(c-'0')
	}
	return x, true, nil
}
