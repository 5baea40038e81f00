package generic

import (
	"encoding/json"
	"sort"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// field is one top-level field of a message. For JSON, value is a
// scalar's text (a string as decoded, a number as written, true/false,
// "" for null); nested marks an object or array, which has no canonical
// text and so cannot be signed field by field.
type field struct {
	key    string
	value  string
	nested bool
}

// message is a parsed notification body.
type message struct {
	body   []byte
	fields []field
	index  map[string]int
	// parsed is the JSON document (strictjson's maps); nil for the other
	// formats, whose view is built from fields.
	parsed map[string]any
}

// parseBody parses the body in the configured format. A raw body has no
// fields.
func parseBody(format string, body []byte) (*message, error) {
	m := &message{body: body}
	var err error
	switch format {
	case formatForm:
		m.fields, err = parseForm(body)
	case formatXML:
		m.fields, _, err = parseXML(body)
	case formatJSON:
		m.fields, m.parsed, err = parseJSON(body)
	}
	if err != nil {
		return nil, err
	}
	m.index = make(map[string]int, len(m.fields))
	for i, f := range m.fields {
		m.index[f.key] = i
	}
	return m, nil
}

// parseJSON reads a JSON object strictly (strictjson: no repeated key at
// any depth, UTF-8 only) and lists its top-level members as fields.
func parseJSON(body []byte) ([]field, map[string]any, error) {
	obj, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, nil, reason.Wrap(reason.Malformed, err, "")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := make([]field, 0, len(obj))
	for _, k := range keys {
		f := field{key: k}
		switch v := obj[k].(type) {
		case string:
			f.value = v
		case json.Number:
			f.value = string(v)
		case bool:
			f.value = "false"
			if v {
				f.value = "true"
			}
		case nil:
		default:
			f.nested = true
		}
		fields = append(fields, f)
	}
	return fields, obj, nil
}

// get returns a field.
func (m *message) get(key string) (field, bool) {
	i, ok := m.index[key]
	if !ok {
		return field{}, false
	}
	return m.fields[i], true
}

// view is what the mappings and Raw see: only the fields the signature
// covers (signed reports which), so nothing unsigned reaches the
// normalized notification. body is the JSON document restricted to the
// signed members, or for form and XML the fields as a map.
func (m *message) view(signed func(key string) bool) (body map[string]any, fields map[string]string) {
	body = map[string]any{}
	fields = map[string]string{}
	for _, f := range m.fields {
		if !signed(f.key) {
			continue
		}
		if m.parsed != nil {
			body[f.key] = m.parsed[f.key]
		} else {
			body[f.key] = f.value
		}
		if !f.nested {
			fields[f.key] = f.value
		}
	}
	return body, fields
}
