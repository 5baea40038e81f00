package generic

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"sort"
	"testing"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
)

// vectorCase is one case of testdata/generic.json (copied from
// shared/vectors: WeChat Pay v2's published md5 signing example and a
// partner's bare-key variant, with the config in the option names of the
// generic block).
type vectorCase struct {
	Name         string            `json:"name"`
	Config       map[string]string `json:"config"`
	Fields       map[string]string `json:"fields"`
	MessageBytes string            `json:"message_bytes"`
	Signature    string            `json:"signature"`
}

func loadVectors(t *testing.T) []vectorCase {
	cases := providertest.Vectors[vectorCase](t, "generic.json")
	if len(cases) != 4 {
		t.Fatalf("%d cases", len(cases))
	}
	return cases
}

// vectorValues turns a case's config into option values: "signature
// field sign" is the option's two arguments.
func vectorValues(c vectorCase) provider.Values {
	v := provider.Values{"partner_name": {"vector_partner"}}
	for k, s := range c.Config {
		switch k {
		case "signature", "message":
			v[k] = splitWords(s)
		default:
			v[k] = []string{s}
		}
	}
	return withMappings(v)
}

func splitWords(s string) []string {
	var out []string
	word := ""
	for _, r := range s + " " {
		if r == ' ' {
			if word != "" {
				out = append(out, word)
			}
			word = ""
			continue
		}
		word += string(r)
	}
	return out
}

// formBody encodes fields sorted by key, with the signature field last
// when sigName is set.
func formBody(fields map[string]string, sigName, sig string) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		if len(b) > 0 {
			b = append(b, '&')
		}
		b = append(b, url.QueryEscape(k)+"="+url.QueryEscape(fields[k])...)
	}
	if sigName != "" {
		b = append(b, "&"+sigName+"="+url.QueryEscape(sig)...)
	}
	return b
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestVectors(t *testing.T) {
	for _, c := range loadVectors(t) {
		t.Run(c.Name, func(t *testing.T) {
			p := mustBuild(t, vectorValues(c))
			body := formBody(c.Fields, "sign", c.Signature)
			if c.MessageBytes != "" {
				m, err := parseBody(formatForm, body)
				if err != nil {
					t.Fatal(err)
				}
				got, err := p.scheme.signedBytes(m, []byte(c.Config["secret"]), signedValues{})
				if err != nil || string(got) != c.MessageBytes {
					t.Fatalf("signed bytes\n%s\nwant\n%s (%v)", got, c.MessageBytes, err)
				}
			}
			if _, err := p.VerifyNotify(request(body, nil)); err != nil {
				t.Fatalf("vector refused: %v", err)
			}
			// One field changed after signing.
			changed := map[string]string{}
			for k, v := range c.Fields {
				changed[k] = v
			}
			for k := range changed {
				changed[k] += "1"
				break
			}
			if _, err := p.VerifyNotify(request(formBody(changed, "sign", c.Signature), nil)); err == nil {
				t.Fatal("changed field accepted")
			}
		})
	}
}
