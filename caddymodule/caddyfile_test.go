package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of the adapt golden files")

// TestCaddyfileAdapt runs every testdata/adapt/*.caddyfiletest: a Caddyfile,
// a line of ten dashes, then the expected JSON, or the text the adapt error
// must contain (with the Caddyfile line: an operator must find the line).
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(string(data), "----------", 2)
			if len(parts) != 2 {
				t.Fatal("no ---------- separator")
			}
			caddyfile, expected := strings.TrimSpace(parts[0])+"\n", strings.TrimSpace(parts[1])
			if strings.HasPrefix(expected, "{") || (*update && expected == "") {
				if *update {
					out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
					if err != nil {
						t.Fatalf("adapt: %v", err)
					}
					var buf bytes.Buffer
					_ = json.Indent(&buf, out, "", "\t")
					if err := os.WriteFile(f, []byte(strings.TrimSpace(parts[0])+"\n----------\n"+buf.String()+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				if !caddytest.CompareAdapt(t, f, caddyfile, "caddyfile", expected) {
					t.Errorf("adapted JSON differs from %s", f)
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil {
				t.Fatalf("adapted, want an error containing %q", expected)
			}
			if !strings.Contains(err.Error(), expected) {
				t.Fatalf("error %q does not contain %q", err, expected)
			}
			if !strings.Contains(err.Error(), "Caddyfile:") {
				t.Fatalf("error %q does not name the Caddyfile line", err)
			}
		})
	}
}
