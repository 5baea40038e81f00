package route

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/stdwebhook"
)

// UpstreamSecrets resolves upstream_secret (its placeholders through
// replace) and reads upstream_secret_file, one secret per file, into keys
// held in memory only. An error names the option and its position, never
// the value; a file's bytes are cleared once parsed.
func UpstreamSecrets(secrets, files []string, replace func(string) (string, error)) ([][]byte, error) {
	var keys [][]byte
	add := func(opt string, i int, v string) error {
		key, err := stdwebhook.ParseSecret(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s %d: %v", opt, i+1, err)
		}
		keys = append(keys, key)
		return nil
	}
	for i, s := range secrets {
		v, err := replace(s)
		if err != nil {
			return nil, fmt.Errorf("upstream_secret %d: %v", i+1, err)
		}
		if err := add("upstream_secret", i, v); err != nil {
			return nil, err
		}
	}
	for i, path := range files {
		p, err := replace(path)
		if err != nil {
			return nil, fmt.Errorf("upstream_secret_file %d: %v", i+1, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("upstream_secret_file %d: cannot read %s: %v", i+1, p, errors.Unwrap(err))
		}
		err = add("upstream_secret_file", i, string(b))
		clear(b)
		if err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// InlineUpstreamSecrets names upstream_secret when one of its values is
// written inline rather than as a placeholder (for the host's warning).
func InlineUpstreamSecrets(secrets []string) []string {
	for _, s := range secrets {
		if !provider.HasPlaceholder(s) {
			return []string{"upstream_secret"}
		}
	}
	return nil
}
