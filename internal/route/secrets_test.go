package route

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secretB64 = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func identity(s string) (string, error) { return s, nil }

func TestUpstreamSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.secret")
	if err := os.WriteFile(file, []byte("whsec_"+secretB64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	replace := func(s string) (string, error) {
		if s == "{env.SHOP}" {
			return "whsec_" + secretB64, nil
		}
		if strings.Contains(s, "{") {
			return "", errors.New("unknown placeholder")
		}
		return s, nil
	}
	keys, err := UpstreamSecrets([]string{"{env.SHOP}", "whsec_" + secretB64}, []string{file}, replace)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || len(keys[0]) != 24 || string(keys[0]) != string(keys[2]) {
		t.Fatalf("keys: %d, %v", len(keys), keys)
	}
	for _, c := range []struct {
		secrets, files []string
		want           string
	}{
		{[]string{"whsec_" + secretB64, "{env.NOPE}"}, nil, "upstream_secret 2: unknown placeholder"},
		{[]string{"whsec_!!"}, nil, "upstream_secret 1: "},
		{nil, []string{"{env.NOPE}"}, "upstream_secret_file 1: unknown placeholder"},
		{nil, []string{filepath.Join(dir, "missing")}, "upstream_secret_file 1: cannot read " + filepath.Join(dir, "missing") + ": "},
		{nil, []string{file, filepath.Join(dir, "missing")}, "upstream_secret_file 2: "},
	} {
		_, err := UpstreamSecrets(c.secrets, c.files, replace)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want %q...", c.secrets, c.files, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secretB64[:8]) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
	if keys, err := UpstreamSecrets(nil, nil, identity); keys != nil || err != nil {
		t.Errorf("none: %v, %v", keys, err)
	}
}

func TestInlineUpstreamSecrets(t *testing.T) {
	if got := InlineUpstreamSecrets([]string{"{env.A}", "{file./run/b}"}); got != nil {
		t.Errorf("placeholders only: %v", got)
	}
	if got := InlineUpstreamSecrets([]string{"{env.A}", "whsec_" + secretB64}); len(got) != 1 || got[0] != "upstream_secret" {
		t.Errorf("one inline: %v", got)
	}
}
