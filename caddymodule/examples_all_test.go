package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestExampleCaddyfilesValidate: every examples/<name>/Caddyfile (and
// examples/<name>/<setup>.Caddyfile) adapts
// and provisions from the repository root, as their headers say
// (`payguard validate --config examples/<name>/Caddyfile`). A provider's
// example is covered by adding the file.
func TestExampleCaddyfilesValidate(t *testing.T) {
	t.Chdir("..")
	// Validation sets up the tls app for the examples' site names: keep
	// its storage out of the user's home.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	files, err := filepath.Glob(filepath.Join("examples", "*", "Caddyfile"))
	// Directories with several setups name them <setup>.Caddyfile
	// (examples/generic).
	more, _ := filepath.Glob(filepath.Join("examples", "*", "*.Caddyfile"))
	files = append(files, more...)
	if err != nil || len(files) == 0 {
		t.Fatalf("no example Caddyfiles: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.ToSlash(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := wxValidate(t, string(data)); err != nil {
				t.Fatalf("%s does not validate: %v", f, err)
			}
		})
	}
}

// adaptFile adapts a Caddyfile from the repository root to Caddy's JSON.
func adaptFile(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": path})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// listenAddrs are every HTTP server's listen addresses.
func listenAddrs(cfg map[string]any) []string {
	var out []string
	servers, _ := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)
	for _, s := range servers {
		for _, l := range s.(map[string]any)["listen"].([]any) {
			out = append(out, l.(string))
		}
	}
	return out
}

// The fleet's two instances: one store and one audit stream, two admin
// endpoints and two listeners, so they run side by side on one host.
func TestFleetExampleSharesOneStore(t *testing.T) {
	t.Chdir("..")
	a := adaptFile(t, "examples/fleet/instance-a.Caddyfile")
	b := adaptFile(t, "examples/fleet/instance-b.Caddyfile")
	ja, _ := json.Marshal(a["apps"].(map[string]any)["payguard"])
	jb, _ := json.Marshal(b["apps"].(map[string]any)["payguard"])
	if string(ja) != string(jb) || !strings.Contains(string(ja), "redis://") {
		t.Fatalf("the instances' payguard apps differ or are not on Redis:\n%s\n%s", ja, jb)
	}
	if a["admin"].(map[string]any)["listen"] == b["admin"].(map[string]any)["listen"] {
		t.Fatal("both instances use one admin endpoint")
	}
	la, lb := listenAddrs(a), listenAddrs(b)
	if len(la) != 1 || len(lb) != 1 || la[0] == lb[0] || !strings.HasPrefix(la[0], "127.0.0.1:") || !strings.HasPrefix(lb[0], "127.0.0.1:") {
		t.Fatalf("listeners %v and %v: want one loopback address each, different", la, lb)
	}
}
