package all

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/payguard/payguard/internal/provider"
)

// seamFolders hold the code every provider shares: the Caddy glue, the
// Caddyfile's option tables and the provider-independent simulator. A
// provider is one package and one line here in all.go; no code in these
// folders may know one by name.
var seamFolders = []string{"../../../caddymodule", "../../caddyfileopts", "../../sim"}

// TestNoProviderNameInTheSeam walks the non-test Go files of the seam's
// folders and fails on any registered provider's name used as an
// identifier (alipayClient, WeChatPayV3) or in a string ("alipay",
// "/wechatpay_v3/", an import of its package). Comments may name one.
func TestNoProviderNameInTheSeam(t *testing.T) {
	names := provider.Names()
	if len(names) < 2 {
		t.Fatalf("registered providers: %v", names)
	}
	files := 0
	for _, dir := range seamFolders {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			files++
			for _, hit := range providerNames(t, path, nil, names) {
				t.Errorf("%s: %s", hit, "a provider's name belongs in its own package (internal/provider/<name>/)")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files == 0 {
		t.Fatalf("no Go file under %v: the walk looks in the wrong place", seamFolders)
	}
}

// The check finds what it must, and only that.
func TestProviderNamesFinds(t *testing.T) {
	src := `package x

import _ "example.com/provider/alipay"

// alipay and wechatpay_v3 may be named in a comment.
var alipayClient, WeChatPayV3 = 1, 2
var path = "/notify/wechatpay_v3"
var fine = "a generically named provider, stripes"

func f() string { return "Alipay order" }
`
	got := providerNames(t, "x.go", []byte(src), []string{"alipay", "generic", "stripe", "wechatpay_v3"})
	want := []string{
		`x.go:3:10: string "example.com/provider/alipay" names alipay`,
		`x.go:6:5: identifier alipayClient names alipay`,
		`x.go:6:19: identifier WeChatPayV3 names wechatpay_v3`,
		`x.go:7:12: string "/notify/wechatpay_v3" names wechatpay_v3`,
		`x.go:10:26: string "Alipay order" names alipay`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// providerNames lists each identifier and string literal of the file
// (src, or read from path) that names one of names: an identifier that
// holds a name (underscores dropped, any case), a string with a name as
// one of its words (split at anything but letters, digits and '_').
func providerNames(t *testing.T, path string, src []byte, names []string) []string {
	t.Helper()
	fset := token.NewFileSet()
	var f *ast.File
	var err error
	if src != nil {
		f, err = parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	} else {
		f, err = parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	}
	if err != nil {
		t.Fatal(err)
	}
	var hits []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			id := strings.ToLower(strings.ReplaceAll(n.Name, "_", ""))
			for _, name := range names {
				if strings.Contains(id, strings.ReplaceAll(name, "_", "")) {
					hits = append(hits, fset.Position(n.Pos()).String()+": identifier "+n.Name+" names "+name)
				}
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(n.Value)
			if err != nil {
				t.Fatalf("%s: %v", fset.Position(n.Pos()), err)
			}
			words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
			})
			for _, name := range names {
				for _, w := range words {
					if w == name {
						hits = append(hits, fset.Position(n.Pos()).String()+": string "+n.Value+" names "+name)
						break
					}
				}
			}
		}
		return true
	})
	return hits
}
