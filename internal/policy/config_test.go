package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A `policy` argument is a file when it ends in .cel, else an expression;
// either compiles under its name, both or neither is an error.
func TestConfigCompile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "small.cel")
	if err := os.WriteFile(file, []byte("notification.amount < 100"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		c       Config
		name    string
		wantErr string
	}{
		{ConfigOf(file), file, ""},
		{ConfigOf("notification.amount < 100"), "notification.amount < 100", ""},
		{Config{File: file, Expression: "true"}, "", "not both"},
		{Config{}, "", "neither"},
	} {
		p, err := c.c.Compile()
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: %v, want %q", c.c, err, c.wantErr)
			}
		case err != nil || p.Name() != c.name:
			t.Errorf("%+v: %v, name %q, want %q", c.c, err, p.Name(), c.name)
		}
	}
	if c := ConfigOf(`notification.status == "x.cel"`); c.File != "" {
		t.Errorf("an expression ending in .cel\" is no file: %+v", c)
	}
}
