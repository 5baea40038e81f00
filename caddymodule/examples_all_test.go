package caddymodule_test

import (
	"os"
	"path/filepath"
	"testing"
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
