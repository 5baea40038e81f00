package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shippedDir is the repository's policies/ folder.
const shippedDir = "../../policies"

// TestShippedPolicies runs `payguard policy test` on every policy in
// policies/ with the cases in the folder of the same name: each must get
// its expected verdict, and each policy has a case that it must deny.
func TestShippedPolicies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(shippedDir, "*.cel"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies in %s: %v", shippedDir, err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(src), "//") || !strings.Contains(string(src), "Guards against") {
				t.Errorf("%s does not start with a comment saying what it guards against", f)
			}
			caseDir := strings.TrimSuffix(f, ".cel")
			var out bytes.Buffer
			if code := RunTests(&out, []string{f}, []string{caseDir}, now); code != ExitMatched {
				t.Fatalf("exit %d:\n%s", code, out.String())
			}
			if !strings.Contains(out.String(), "ok   deny") || !strings.Contains(out.String(), "ok   allow") {
				t.Errorf("%s needs a case it allows and one it must deny:\n%s", f, out.String())
			}
			t.Logf("\n%s", out.String())
		})
	}
}
