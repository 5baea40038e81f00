// Package optiondoc renders the registered providers' option tables as
// Markdown, for docs/providers.md. The tables are the providers' own
// (provider.Spec.Options): the same rows the Caddyfile parser and the JSON
// config read, so the documentation cannot list an option the code does not
// take, nor miss one it does. A test in caddymodule compares the committed
// file with this rendering.
package optiondoc

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/payguard/payguard/internal/provider"
)

// Header is the generated file's first line, telling readers not to edit it.
const Header = "<!-- Generated from the providers' option tables (provider.Specs()); do not edit. Regenerate: go test ./caddymodule -run TestDocsProviderOptions -update-docs -->"

// Render writes one section per spec: its summary and a table of its
// options (Caddyfile name, JSON key, kind, block, required, doc).
func Render(specs []*provider.Spec) []byte {
	var b bytes.Buffer
	fmt.Fprintln(&b, Header)
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "# Provider options")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Each provider's own options, inside `payguard <provider> { ... }`, beside the")
	fmt.Fprintln(&b, "options every provider takes ([configuration.md](configuration.md)). Options")
	fmt.Fprintln(&b, "marked *query* go in the `query { }` block. A *secret* option is given inline")
	fmt.Fprintln(&b, "(`name value`) or as a file (`name_file path`); every value may be a")
	fmt.Fprintln(&b, "`{env.NAME}` or `{file./path}` placeholder unless it is marked *literal*.")
	fmt.Fprintln(&b)
	for _, s := range specs {
		fmt.Fprintf(&b, "- [`%s`](#%s)\n", s.Name, anchor(s.Name))
	}
	for _, s := range specs {
		renderSpec(&b, s)
	}
	return b.Bytes()
}

func renderSpec(b *bytes.Buffer, s *provider.Spec) {
	fmt.Fprintf(b, "\n## %s\n\n", s.Name)
	if s.Summary != "" {
		fmt.Fprintf(b, "%s.\n\n", strings.TrimSuffix(s.Summary, "."))
	}
	if len(s.Options) == 0 {
		fmt.Fprintln(b, "No options of its own.")
		return
	}
	fmt.Fprintln(b, "| option | JSON key | kind | block | required | what it is |")
	fmt.Fprintln(b, "|---|---|---|---|---|---|")
	for _, o := range s.Options {
		name := "`" + o.Name + "`"
		if o.Kind == provider.KindSecret {
			name += " / `" + o.Name + "_file`"
		}
		json := "`" + o.JSONKey() + "`"
		if o.Kind == provider.KindSecret {
			json += " / `" + o.FileKey() + "`"
		}
		block := "main"
		if o.Query {
			block = "query"
		}
		req := ""
		if o.Required {
			req = "yes"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", name, json, kind(o), block, req, cell(o.Doc))
	}
}

// kind names an option's kind for the table, with an enum's words.
func kind(o provider.Option) string {
	var k string
	switch o.Kind {
	case provider.KindString:
		k = "string"
	case provider.KindSecret:
		k = "secret"
	case provider.KindFile:
		k = "file"
	case provider.KindFiles:
		k = "files (one or more)"
	case provider.KindList:
		k = "list (one or more)"
	case provider.KindEnum:
		k = "one of " + "`" + strings.Join(o.Values, "` `") + "`"
	default:
		k = "?"
	}
	if o.Literal {
		k += ", literal"
	}
	return k
}

// anchor is the GitHub heading anchor of a provider's section.
func anchor(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, " ", "-"))
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
