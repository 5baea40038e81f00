package wechatpay

import (
	"strings"
	"unicode/utf8"
)

// xmlDeclarations are the declarations readFlatXML knows decodeFlatXML
// accepts; any other one is left to decodeFlatXML.
var xmlDeclarations = []string{
	`<?xml version="1.0" encoding="UTF-8"?>`,
	`<?xml version="1.0" encoding="utf-8"?>`,
	`<?xml version="1.0"?>`,
}

// readFlatXML reads, in one pass over one copy of b, the subset of the
// documents decodeFlatXML accepts that WeChat actually writes, and returns
// the same fields; ok is false for anything else, good or bad, and the
// caller then asks decodeFlatXML. Accepted, and nothing more:
//   - one of xmlDeclarations at the very start, then XML whitespace
//     (space, tab, CR, LF) before <root>, between children and after
//     </root>;
//   - <root> and </root> written exactly so, not <root/>;
//   - children <k>...</k>, k ASCII [A-Za-z_][A-Za-z0-9_.-]* with no space
//     or attribute in either tag, not <k/>, each k once, at most
//     maxXMLFields of them;
//   - a value made of text without '&', "]]>" or CR, and CDATA sections
//     without CR, both of characters XML 1.0 allows in valid UTF-8.
//
// Everything refused (references, CR normalisation, comments, PIs,
// DOCTYPE, nesting, non-UTF-8...) is thus decided by encoding/xml alone;
// FuzzFlatXMLMatchesOracle holds the two readers to the same answers.
func readFlatXML(b []byte, root string) (map[string]string, bool) {
	fields, _, ok := readFlatXMLPlain(b, root)
	return fields, ok
}

// readFlatXMLPlain is readFlatXML that also reports whether every child
// holds exactly one non-empty text node or CDATA section: what
// checkPlainValues holds a forwarded original body to, so that a body
// read here with plain true passes it (FuzzFlatXMLMatchesOracle checks).
func readFlatXMLPlain(b []byte, root string) (fields map[string]string, plain, ok bool) {
	s := string(b) // keys and values are substrings of this one copy
	i := 0
	if strings.HasPrefix(s, "<?") {
		for _, d := range xmlDeclarations {
			if strings.HasPrefix(s, d) {
				i = len(d)
				break
			}
		}
		if i == 0 {
			return nil, false, false
		}
	}
	i = skipXMLSpace(s, i)
	if i = readTag(s, i, "", root); i < 0 {
		return nil, false, false
	}
	fields = make(map[string]string, min(strings.Count(s, "</"), maxXMLFields))
	plain = true
	for {
		i = skipXMLSpace(s, i)
		if strings.HasPrefix(s[i:], "</") {
			break
		}
		if !strings.HasPrefix(s[i:], "<") || len(fields) >= maxXMLFields {
			return nil, false, false
		}
		j := readXMLName(s, i+1)
		name := s[i+1 : j]
		if j == i+1 || j >= len(s) || s[j] != '>' {
			return nil, false, false
		}
		if _, dup := fields[name]; dup {
			return nil, false, false
		}
		val, k, one := readXMLValue(s, j+1)
		if k < 0 {
			return nil, false, false
		}
		plain = plain && one && val != ""
		if i = readTag(s, k, "/", name); i < 0 {
			return nil, false, false
		}
		fields[name] = val
	}
	if i = readTag(s, i, "/", root); i < 0 || skipXMLSpace(s, i) != len(s) {
		return nil, false, false
	}
	return fields, plain, true
}

// readTag returns the index after "<"+slash+name+">" at s[i:], or -1.
func readTag(s string, i int, slash, name string) int {
	rest := s[i:]
	if !strings.HasPrefix(rest, "<") || !strings.HasPrefix(rest[1:], slash) {
		return -1
	}
	rest = rest[1+len(slash):]
	if !strings.HasPrefix(rest, name) || !strings.HasPrefix(rest[len(name):], ">") {
		return -1
	}
	return i + 1 + len(slash) + len(name) + 1
}

func skipXMLSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// readXMLName returns the end of the ASCII name at s[i:] (i when none).
func readXMLName(s string, i int) int {
	j := i
	for ; j < len(s); j++ {
		c := s[j]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (j == i || !(c >= '0' && c <= '9' || c == '.' || c == '-')) {
			break
		}
	}
	return j
}

var cdataOpenString = string(cdataOpen)

// readXMLValue reads a child's content up to its "</" and returns it with
// the index of that "</", or -1 for content readFlatXML leaves alone, and
// whether the content was exactly one text node or CDATA section. One
// such is a substring of s; only split content is joined into a new
// string.
func readXMLValue(s string, i int) (string, int, bool) {
	var val string
	var joined *strings.Builder
	pieces := 0
	for {
		var seg string
		switch rest := s[i:]; {
		case strings.HasPrefix(rest, "</"):
			if joined != nil {
				return joined.String(), i, false
			}
			return val, i, pieces == 1
		case strings.HasPrefix(rest, cdataOpenString):
			end := strings.Index(rest[len(cdataOpen):], "]]>")
			if end < 0 {
				return "", -1, false
			}
			seg = rest[len(cdataOpen) : len(cdataOpen)+end]
			i += len(cdataOpen) + end + len("]]>")
		case strings.HasPrefix(rest, "<"):
			return "", -1, false
		default:
			end := strings.IndexByte(rest, '<')
			if end < 0 {
				return "", -1, false
			}
			seg = rest[:end]
			if strings.IndexByte(seg, '&') >= 0 || strings.Contains(seg, "]]>") {
				return "", -1, false
			}
			i += end
		}
		pieces++
		switch {
		case !plainXMLChars(seg):
			return "", -1, false
		case joined != nil:
			joined.WriteString(seg)
		case val == "":
			val = seg
		case seg != "":
			joined = &strings.Builder{}
			joined.WriteString(val)
			joined.WriteString(seg)
		}
	}
}

// plainXMLChars reports whether s is valid UTF-8 of characters XML 1.0
// allows, CR excepted (encoding/xml turns it into LF).
func plainXMLChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += size
	}
	return true
}
