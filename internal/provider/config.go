package provider

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The configured Values as the Caddy glue reads and writes them: the JSON
// shape of the provider module, the checks of a Caddyfile argument while
// adapting, and which secrets were given inline. All of it follows the
// option table; the glue only moves tokens.

// DecodeJSON sets the option under key in v from its JSON value: a string
// for single-valued options, an array for lists. An unknown key is an
// error that names the valid ones.
func (s *Spec) DecodeJSON(v Values, key string, raw json.RawMessage) error {
	opt, ok := s.optionByJSON(key)
	if !ok {
		keys := s.jsonKeys()
		sort.Strings(keys)
		return fmt.Errorf("%s: unknown option %q (valid: %s)", s.Name, key, strings.Join(keys, ", "))
	}
	if opt.Multi() && key == opt.JSONKey() {
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("%s: %s must be an array of strings", s.Name, key)
		}
		v[key] = list
		return nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return fmt.Errorf("%s: %s must be a string", s.Name, key)
	}
	v[key] = []string{str}
	return nil
}

// DecodeJSONObject reads the provider module's JSON object: each key
// that take, the host's own options beside the provider's, does not take
// is the provider's (DecodeJSON).
func (s *Spec) DecodeJSONObject(b []byte, take func(key string, raw json.RawMessage) (bool, error)) (Values, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	v := Values{}
	for key, rv := range raw {
		if taken, err := take(key, rv); err != nil {
			return nil, err
		} else if taken {
			continue
		}
		if err := s.DecodeJSON(v, key, rv); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// EncodeJSON is v in the shape DecodeJSON reads.
func (s *Spec) EncodeJSON(v Values) map[string]any {
	out := map[string]any{}
	for key, args := range v {
		opt, _ := s.optionByJSON(key)
		if opt.Multi() && key == opt.JSONKey() {
			out[key] = args
		} else if len(args) > 0 {
			out[key] = args[0]
		}
	}
	return out
}

func (s *Spec) optionByJSON(key string) (Option, bool) {
	for _, o := range s.Options {
		if o.JSONKey() == key || (o.Kind == KindSecret && o.FileKey() == key) {
			return o, true
		}
	}
	return Option{}, false
}

// CheckArg checks one Caddyfile argument of opt, spelled as written (a
// secret's _file twin is a path), while adapting: an enum's word, and a
// value or file without placeholders read and parsed, so `payguard
// validate` names the line. A value with a placeholder is only known at
// provision, where Resolve checks it. The error names the option, never
// the value's bytes.
func CheckArg(opt Option, spelled, arg string) error {
	if opt.Kind == KindEnum && !hasPlaceholder(arg) && !contains(opt.Values, arg) {
		return fmt.Errorf("%s must be %s, not %q", spelled, strings.Join(opt.Values, " or "), arg)
	}
	readsFile := spelled != opt.Name || opt.Kind == KindFile || opt.Kind == KindFiles
	if opt.HoldsPlaceholder(arg) || opt.Parse == nil && !readsFile {
		return nil
	}
	data := []byte(arg)
	if readsFile {
		b, err := ReadOptionFile(spelled, arg, nil)
		if err != nil {
			return err
		}
		data = b
	}
	return parseWith(opt, spelled, data)
}

// UnknownOption is the error for an option the block does not take: it
// lists the provider's own options and the glue's (common: the handler's
// options, or in the query block the query's own).
func (s *Spec) UnknownOption(opt string, inQuery bool, common []string) error {
	if inQuery {
		valid := append(append([]string(nil), common...), s.OptionNames(true)...)
		return fmt.Errorf("payguard %s: unknown query option %q (valid: %s)", s.Name, opt, strings.Join(valid, ", "))
	}
	return fmt.Errorf("payguard %s: unknown option %q (%s options: %s; common options: %s)", s.Name, opt,
		s.Name, strings.Join(s.OptionNames(false), ", "), strings.Join(common, ", "))
}

// InlineSecrets names the secret options set in v inline, without a
// placeholder: while Caddy's admin API is on, their values show at its
// /config/.
func (s *Spec) InlineSecrets(v Values) []string {
	var out []string
	for _, o := range s.Options {
		if val := v.Get(o.JSONKey()); o.Kind == KindSecret && val != "" && !hasPlaceholder(val) {
			out = append(out, o.Name)
		}
	}
	return out
}
