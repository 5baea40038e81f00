package alipay

import (
	"encoding/json"
	"strings"
	"testing"
)

// scanObject's keys and jsonString's values were json.Unmarshal into a
// string; unquote is that, with the bytes taken as they are when there is
// no escape and they are valid UTF-8. And VerifyResponse found repeated
// members with a map; firstRepeat is that without one for small answers.

// formerFirstRepeat is VerifyResponse's former map walk.
func formerFirstRepeat(members []jsonMember) int {
	seen := make(map[string]bool, len(members))
	for i, m := range members {
		if seen[m.key] {
			return i
		}
		seen[m.key] = true
	}
	return -1
}

func checkUnquote(t *testing.T, raw []byte) {
	t.Helper()
	s := &jsonScanner{b: raw}
	if s.str() != nil || s.i != len(raw) {
		return // not one JSON string: the scanner hands unquote none
	}
	got, err := unquote(raw)
	var want string
	werr := json.Unmarshal(raw, &want)
	if got != want || (err == nil) != (werr == nil) {
		t.Fatalf("%q: %q %v, json.Unmarshal %q %v", raw, got, err, want, werr)
	}
}

func FuzzUnquoteMatchesUnmarshal(f *testing.F) {
	for _, s := range []string{`""`, `"sign"`, `"a\/b"`, `"\u0061"`, "\"\xff\"", `"交易"`, `"\ud800"`, `"\ud83d\ude00"`, "\"\xed\xa0\x80\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkUnquote)
}

func TestFirstRepeatMatchesFormer(t *testing.T) {
	for _, keys := range []string{"", "a", "a,a", "a,b,a", "a,b,c,d,e,f,g,h,b", "a,b,c,d,e,f,g,h,i", "a,b,c,d,e,f,g,h,i,j,k,j,k", "x,y,z,x,y"} {
		var ms []jsonMember
		if keys != "" {
			for _, k := range strings.Split(keys, ",") {
				ms = append(ms, jsonMember{key: k})
			}
		}
		if got, want := firstRepeat(ms), formerFirstRepeat(ms); got != want {
			t.Errorf("%s: %d, former %d", keys, got, want)
		}
	}
}

func FuzzFirstRepeatMatchesFormer(f *testing.F) {
	f.Add([]byte("abca"), uint8(3))
	f.Fuzz(func(t *testing.T, keys []byte, alphabet uint8) {
		ms := make([]jsonMember, 0, len(keys))
		for _, c := range keys {
			ms = append(ms, jsonMember{key: string(rune('a' + c%(alphabet%26+1)))})
		}
		if got, want := firstRepeat(ms), formerFirstRepeat(ms); got != want {
			t.Fatalf("%v: %d, former %d", ms, got, want)
		}
	})
}
