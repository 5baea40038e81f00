package caddymodule

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/optiondoc"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/route"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/providers.md from the providers' option tables")

const docsDir = "../docs"

// TestDocsProviderOptions keeps docs/providers.md equal to the rendering of
// the registered option tables: a provider that gains, loses or re-documents
// an option fails here until the file is regenerated.
func TestDocsProviderOptions(t *testing.T) {
	want := optiondoc.Render(provider.Specs())
	path := filepath.Join(docsDir, "providers.md")
	if *updateDocs {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the providers' option tables; regenerate it:\n\tgo test ./caddymodule -run TestDocsProviderOptions -update-docs", path)
	}
}

// readDocs concatenates every Markdown file under docs/.
func readDocs(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(docsDir, "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}

// TestDocsNameEverything checks that docs/ names every reason code with its
// status, every Payguard-* header the pipeline sets, every audit record
// field, every metric payguard registers and its labels, every common
// handler option and every provider option.
func TestDocsNameEverything(t *testing.T) {
	docs := readDocs(t)
	reasons, err := os.ReadFile(filepath.Join(docsDir, "reasons.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range reason.All {
		// The reasons table: | `code` | status | ...
		row := "| `" + string(c) + "` | " + strconv.Itoa(reason.HTTPStatus(c))
		if !strings.Contains(string(reasons), row) {
			t.Errorf("docs/reasons.md has no row %q", row)
		}
	}
	for _, h := range pipelineHeaders(t) {
		if !strings.Contains(docs, "`"+h+"`") {
			t.Errorf("docs/ does not name the header `%s`", h)
		}
	}
	rt := reflect.TypeOf(audit.Record{})
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(docs, "`"+name+"`") {
			t.Errorf("docs/ does not name the audit field `%s`", name)
		}
	}
	for _, o := range route.Options {
		if !strings.Contains(docs, "`"+o+"`") {
			t.Errorf("docs/ does not name the common option `%s`", o)
		}
	}
	for name, m := range registeredMetrics(t) {
		if !strings.Contains(docs, "`"+name+"`") {
			t.Errorf("docs/ does not name the metric `%s`", name)
		}
		for l := range m.labels {
			if !strings.Contains(docs, "`"+l+"`") {
				t.Errorf("docs/ does not name the label `%s` of %s", l, name)
			}
		}
	}
	for _, s := range provider.Specs() {
		if !strings.Contains(docs, "## "+s.Name+"\n") {
			t.Errorf("docs/ has no section for provider %s", s.Name)
		}
		for _, o := range s.Options {
			if !strings.Contains(docs, "`"+o.Name+"`") {
				t.Errorf("docs/ does not name %s's option `%s`", s.Name, o.Name)
			}
		}
	}
}

// pipelineHeaders reads internal/pipeline's source for every string
// constant that is a Payguard-* header name, so a header added there must
// be documented without anyone listing it here.
func pipelineHeaders(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "../internal/pipeline", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range pkgs {
		ast.Inspect(p, func(n ast.Node) bool {
			gd, ok := n.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				return true
			}
			for _, spec := range gd.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil || !strings.HasPrefix(s, "Payguard-") || s == "Payguard-" || seen[s] {
						continue
					}
					seen[s] = true
					out = append(out, s)
				}
			}
			return true
		})
	}
	if len(out) < 10 {
		t.Fatalf("found only %d Payguard-* header constants in internal/pipeline: %v", len(out), out)
	}
	return out
}
