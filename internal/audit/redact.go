package audit

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/url"
	"slices"
	"strings"
)

// AlwaysRedacted are masked in every body whether configured or not:
// signatures (useless to an auditor, and a replay aid) and card numbers,
// which must never reach an audit record.
var AlwaysRedacted = []string{"sign", "signature", "card_no", "pan"}

// Mask replaces a redacted value.
const Mask = "***"

// Unparseable replaces a body Redact cannot take apart safely.
const Unparseable = "[unparseable body redacted]"

// Redact returns body with the values of the named fields, and of
// AlwaysRedacted, replaced by Mask. Field names match case-insensitively,
// at any depth:
//
//   - a JSON object or array: the value of every member with a matching key,
//     however nested, becomes "***" (whole objects and arrays included);
//   - XML: the content of every element with a matching local name, child
//     elements included, becomes *** (attributes are not looked at);
//   - a form (a=1&b=2): the value of every key that matches once
//     percent-decoded becomes ***.
//
// Documents smuggled inside values are redacted too, two levels deep: a
// JSON string or form value that itself holds JSON, XML or a form
// (biz_content={"card_no":...}) has its fields masked and is re-encoded in
// place; one that starts like JSON or XML but does not parse is treated
// like a whole body that does not (below). Everything else is kept byte for byte, so the record shows the
// body as the provider sent it.
//
// The format is read off the body when it starts with '{', '[' or '<',
// since a mislabelled JSON body read as a form would keep its fields;
// otherwise it is a form when it contains '=' or is labelled as one, and
// JSON when labelled JSON. contentType only breaks those ties.
//
// A body that does not parse in its format (truncated JSON, broken XML, a
// "form" whose keys hold spaces or quotes, a byte order mark, anything
// else) is returned unchanged only when none of the field names occurs in
// it case-insensitively and it holds no backslash (which could spell a name
// as a JSON \u escape); otherwise the whole body becomes Unparseable.
// Losing a malformed body from the audit trail is the price of never
// writing a card number. Redact never panics.
func Redact(body []byte, contentType string, fields []string) string {
	return NewRedactor(fields).Redact(body, contentType)
}

// Redactor is Redact with its field names read once (a route's
// audit_redact), for a body per notification.
type Redactor struct {
	names map[string]bool // lower-cased, AlwaysRedacted included
}

// NewRedactor is the Redactor of Redact's fields.
func NewRedactor(fields []string) *Redactor { return &Redactor{names: fieldSet(fields)} }

// Redact is Redact(body, contentType, fields) for the Redactor's fields.
// The names are only read, so one Redactor serves concurrent calls.
func (r *Redactor) Redact(body []byte, contentType string) string {
	out, changed, ok := redact(body, mediaKind(contentType), r.names, 0)
	switch {
	case !ok:
		return fallback(body, r.names)
	case !changed:
		return string(body)
	}
	return out
}

// maxNesting is how many documents-inside-values deep redaction follows.
const maxNesting = 2

// maxDepth bounds element and object nesting on hostile input
// ({{{{... or <a><a><a>...); encoding/json stops at 10000 levels itself,
// this keeps the walk's stack small well before that.
const maxDepth = 512

// redact masks body in the format it detects: out is the masked body
// where changed (an edit was made), "" otherwise; ok is false when the
// body does not parse in that format.
func redact(body []byte, kind int, names map[string]bool, nesting int) (out string, changed, ok bool) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	var err error
	switch {
	case len(trimmed) == 0:
		return "", false, true
	case trimmed[0] == '{' || trimmed[0] == '[':
		out, changed, err = redactJSON(body, names, nesting)
	case trimmed[0] == '<':
		out, changed, err = redactXML(body, names)
	case kind == kindForm || bytes.IndexByte(body, '=') >= 0:
		out, changed, err = redactForm(body, names, nesting)
	case kind == kindJSON:
		out, changed, err = redactJSON(body, names, nesting) // a scalar: nothing to mask, but it must parse
	default:
		err = errUnknownFormat
	}
	return out, changed, err == nil
}

// redactNested redacts a document found inside a value. It reports a
// change only when something was masked, so values that merely look like
// documents (a base64 signature ending in '=') stay byte-identical.
func redactNested(value string, names map[string]bool, nesting int) (string, bool) {
	if nesting >= maxNesting {
		return value, false
	}
	t := strings.TrimLeft(value, " \t\r\n")
	if t == "" || (t[0] != '{' && t[0] != '[' && t[0] != '<' && strings.IndexByte(t, '=') < 0) {
		return value, false
	}
	if cannotHoldNames(value, names) {
		return value, false
	}
	return redactParsed(value, t, names, nesting)
}

// redactParsed is redactNested's parse of value (t: value without its
// leading whitespace).
func redactParsed(value, t string, names map[string]bool, nesting int) (string, bool) {
	b := []byte(value)
	out, changed, ok := redact(b, kindOther, names, nesting+1)
	if !ok {
		// Only what plainly is a document gets the fallback; text that
		// merely contains '=' is left alone.
		if t[0] != '{' && t[0] != '[' && t[0] != '<' {
			return value, false
		}
		out, changed = fallback(b, names), true
	}
	if !changed || out == value {
		return value, false
	}
	return out, true
}

// cannotHoldNames reports a value in which no field could be masked at
// any depth, so that parsing it would change nothing: ASCII (no case
// folding of other letters to a name's), none of the escapes a format
// could spell a name with ('\\' in JSON, '%' and '+' in a form, '&' in
// XML) and no name occurring in it case-insensitively. Parsed or not, such
// a value comes back unchanged (fallback keeps it too): a Alipay
// fund_bill_list, a JSON array, costs a scan instead of a token walk.
func cannotHoldNames[T string | []byte](value T, names map[string]bool) bool {
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c >= 0x80, c == '\\', c == '%', c == '+', c == '&':
			return false
		}
	}
	for n := range names {
		if containsFoldASCII(value, n) {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s, ASCII, contains name with ASCII
// letters compared without case: strings.EqualFold's answer on an ASCII s
// (which folds nothing else: a name with other bytes never matches it),
// for a []byte s too, without copying it into a string.
func containsFoldASCII[T string | []byte](s T, name string) bool {
	for i := 0; i+len(name) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(name)], name) {
			return true
		}
	}
	return false
}

// equalFoldASCII is strings.EqualFold(string(a), b) for an ASCII a of b's
// length.
func equalFoldASCII[T string | []byte](a T, b string) bool {
	for i := 0; i < len(b); i++ {
		if c, d := a[i], b[i]; c != d && (lowerASCII(c) != lowerASCII(d) || !isASCIILetter(c)) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isASCIILetter(c byte) bool { return 'a' <= lowerASCII(c) && lowerASCII(c) <= 'z' }

var errUnknownFormat = errors.New("unknown body format")

// fieldSet lowercases the requested and the always-redacted names.
func fieldSet(fields []string) map[string]bool {
	set := make(map[string]bool, len(fields)+len(AlwaysRedacted))
	for _, f := range AlwaysRedacted {
		set[f] = true
	}
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			set[strings.ToLower(f)] = true
		}
	}
	return set
}

func matches(names map[string]bool, name string) bool { return names[strings.ToLower(name)] }

const (
	kindOther = iota
	kindJSON
	kindForm
)

func mediaKind(contentType string) int {
	// Without parameters ParseMediaType's media type, and its fallback's
	// on an error, are both the lower-cased, trimmed whole: no parse.
	mt := strings.ToLower(strings.TrimSpace(contentType))
	if strings.IndexByte(contentType, ';') >= 0 {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			mt = strings.ToLower(strings.TrimSpace(contentType))
		}
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		return kindForm
	case strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json"):
		return kindJSON
	}
	return kindOther
}

// fallback handles a body that did not parse: see Redact.
func fallback(body []byte, names map[string]bool) string {
	if bytes.IndexByte(body, '\\') >= 0 {
		return Unparseable
	}
	lower := bytes.ToLower(body)
	for n := range names {
		if bytes.Contains(lower, []byte(n)) {
			return Unparseable
		}
	}
	return string(body)
}

// edit replaces body[start:end] with repl.
type edit struct {
	start, end int
	repl       string
}

// apply performs the edits, which never overlap: a masked value is not
// descended into, so no edit lies inside another. It writes the result
// once, as the string the record keeps (a strings.Builder of the exact
// size, whose String copies nothing), and reports false, building
// nothing, when there is no edit.
func apply(body []byte, edits []edit) (string, bool) {
	if len(edits) == 0 {
		return "", false
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	n := len(body)
	for _, e := range edits {
		n += len(e.repl) - (e.end - e.start)
	}
	var out strings.Builder
	out.Grow(n)
	last := 0
	for _, e := range edits {
		out.Write(body[last:e.start])
		out.WriteString(e.repl)
		last = e.end
	}
	out.Write(body[last:])
	return out.String(), true
}

// jsonWalker walks a JSON token stream, recording edits by byte offset;
// the decoder validates the whole document on the way.
type jsonWalker struct {
	dec     *json.Decoder
	body    []byte
	names   map[string]bool
	nesting int
	edits   []edit
}

func redactJSON(body []byte, names map[string]bool, nesting int) (string, bool, error) {
	w := &jsonWalker{dec: json.NewDecoder(bytes.NewReader(body)), body: body, names: names, nesting: nesting}
	w.dec.UseNumber()
	if err := w.value(0); err != nil {
		return "", false, err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		return "", false, errors.New("trailing data after JSON value")
	}
	out, changed := apply(body, w.edits)
	return out, changed, nil
}

// valueStart is where the next value begins: the decoder's offset stands
// after the previous token, before any ':' or ',' and whitespace.
func (w *jsonWalker) valueStart() int {
	i := int(w.dec.InputOffset())
	for i < len(w.body) {
		switch w.body[i] {
		case ':', ',', ' ', '\t', '\r', '\n':
			i++
			continue
		}
		break
	}
	return i
}

func (w *jsonWalker) value(depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	start := w.valueStart()
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case string:
		if red, changed := redactNested(t, w.names, w.nesting); changed {
			w.edits = append(w.edits, edit{start, int(w.dec.InputOffset()), jsonString(red)})
		}
		return nil
	case json.Delim:
		switch t {
		case '{':
			for w.dec.More() {
				kt, err := w.dec.Token()
				if err != nil {
					return err
				}
				k, ok := kt.(string)
				if !ok {
					return errors.New("JSON object key is not a string")
				}
				if !matches(w.names, k) {
					if err := w.value(depth + 1); err != nil {
						return err
					}
					continue
				}
				start := w.valueStart()
				var skip json.RawMessage
				if err := w.dec.Decode(&skip); err != nil {
					return err
				}
				w.edits = append(w.edits, edit{start, int(w.dec.InputOffset()), `"` + Mask + `"`})
			}
		case '[':
			for w.dec.More() {
				if err := w.value(depth + 1); err != nil {
					return err
				}
			}
		default:
			return errors.New("unexpected JSON delimiter")
		}
		_, err = w.dec.Token() // the closing delimiter
		return err
	}
	return nil // numbers, booleans, null
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// redactXML masks the content of every element whose local name matches,
// from the end of its start tag to the start of its end tag.
func redactXML(body []byte, names map[string]bool) (string, bool, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	// Declared charsets (GBK is common in China) are passed through as
	// bytes: only the structure is needed, and the offsets must stay those
	// of the original body.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		edits []edit
		depth int
		// while inside a matched element: its depth and content start
		inMatch    bool
		matchDepth int
		matchStart int
	)
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return "", false, errors.New("XML nested too deeply")
			}
			if !inMatch && matches(names, t.Name.Local) {
				inMatch, matchDepth, matchStart = true, depth, int(dec.InputOffset())
			}
		case xml.EndElement:
			if inMatch && depth == matchDepth {
				inMatch = false
				// A self-closing <sign/> has no content: nothing to mask.
				if before > matchStart {
					edits = append(edits, edit{matchStart, before, Mask})
				}
			}
			depth--
		}
	}
	if depth != 0 {
		return "", false, errors.New("unclosed XML element")
	}
	out, changed := apply(body, edits)
	return out, changed, nil
}

// redactForm masks form values by hand instead of url.ParseQuery, which
// would re-encode and reorder the body and stops at the first bad escape.
// Keys must look like form keys (isFormKey): anything with '=' in it would
// otherwise pass as a form, and a JSON or text body read as one would keep
// its secrets under keys that never match.
func redactForm(body []byte, names map[string]bool, nesting int) (string, bool, error) {
	// On the stack unless a body needs more: the edits, and the decoded
	// value reused from pair to pair.
	var editRoom [8]edit
	var scratchRoom [256]byte
	edits, scratch := editRoom[:0], scratchRoom[:0]
	for pos := 0; pos <= len(body); {
		end := bytes.IndexByte(body[pos:], '&')
		if end < 0 {
			end = len(body)
		} else {
			end += pos
		}
		pair := body[pos:end]
		if eq := bytes.IndexByte(pair, '='); eq >= 0 {
			if !isFormKey(pair[:eq]) {
				return "", false, errors.New("not a form key")
			}
			vstart := pos + eq + 1
			if formKeyMatches(names, pair[:eq]) {
				edits = append(edits, edit{vstart, end, Mask})
			} else if plainFormValue(body[vstart:end]) {
				// Unescaped it is itself, and nothing redactNested would
				// read as a document: nothing to mask inside.
			} else if v, ok := appendUnescaped(scratch[:0], body[vstart:end]); ok {
				scratch = v
				// redactNested's own early answers first, on the bytes: a
				// value they leave unchanged is not copied into a string.
				if mayBeDocument(v) && nesting < maxNesting && !cannotHoldNames(v, names) {
					if red, changed := redactNested(string(v), names, nesting); changed {
						edits = append(edits, edit{vstart, end, url.QueryEscape(red)})
					}
				}
			}
		}
		pos = end + 1
	}
	out, changed := apply(body, edits)
	return out, changed, nil
}

// formKeyMatches is matches on the key as a form decoder reads it. A key
// with no escape ('%', '+') and no upper-case letter is its own decoded,
// lower-cased form, and is looked up without a copy.
func formKeyMatches(names map[string]bool, raw []byte) bool {
	if bytes.IndexAny(raw, "%+ABCDEFGHIJKLMNOPQRSTUVWXYZ") < 0 {
		return names[string(raw)]
	}
	k := string(raw)
	if dk, err := url.QueryUnescape(k); err == nil {
		k = dk
	}
	return matches(names, k)
}

// plainFormValue reports a value that decodes to itself (no '%', no '+')
// and holds none of the bytes redactNested looks for ('{', '[', '<', '='),
// so that decoding it and looking inside would change nothing.
func plainFormValue(raw []byte) bool {
	return bytes.IndexAny(raw, "%+{[<=") < 0
}

// mayBeDocument is redactNested's first test on a decoded value, before
// it is copied into a string: one that neither starts like JSON or XML
// nor holds '=' is returned unchanged there.
func mayBeDocument(v []byte) bool {
	t := bytes.TrimLeft(v, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == '<' || bytes.IndexByte(t, '=') >= 0)
}

// appendUnescaped appends raw decoded as url.QueryUnescape decodes it
// ('+' a space, %XX a byte) to dst; false where QueryUnescape fails (a '%'
// not followed by two hex digits). FuzzAppendUnescaped holds the two to
// each other.
func appendUnescaped(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return dst, false
			}
			dst = append(dst, unhex(raw[i+1])<<4|unhex(raw[i+2]))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isFormKey accepts what a form encoder produces for a key: unreserved
// characters, percent escapes, '+', sub-delimiters and the '[' ']' of
// PHP-style arrays. No whitespace, quotes, braces or angle brackets, no
// bytes outside ASCII.
func isFormKey[T string | []byte](k T) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~%+!$'()*,;:@/?[]", c) >= 0:
		default:
			return false
		}
	}
	return true
}
