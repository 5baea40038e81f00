package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// DefaultSandboxURL is where `payguard sim serve` listens by default.
const DefaultSandboxURL = "http://127.0.0.1:9002"

// KeysConfig says what GenerateKeys writes and which Caddyfile lines it
// prints.
type KeysConfig struct {
	// Dir is created (0700) when missing.
	Dir string
	// Overwrite replaces existing key files; without it GenerateKeys
	// refuses to touch a directory that already holds any of them.
	Overwrite bool
	// SandboxURL is where the sandbox will listen; DefaultSandboxURL when
	// empty.
	SandboxURL string
}

// WriteKeys writes fresh sandbox keys for every simulated provider to dir
// and returns the matching Caddyfile lines.
func WriteKeys(dir string) (string, error) {
	return GenerateKeys(KeysConfig{Dir: dir})
}

// GenerateKeys writes every registered provider's fresh sandbox keys
// (private material 0600, public 0644) and returns the Caddyfile lines: a
// `payguard <provider>` block per provider, each for its own notification
// route, and the sandbox's `payguard_sim` block.
func GenerateKeys(cfg KeysConfig) (string, error) {
	if cfg.Dir == "" {
		return "", errors.New("no keys directory given")
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return "", err
	}
	// Check the path can be written into a Caddyfile before writing
	// anything.
	if _, err := caddyfileToken(abs); err != nil {
		return "", err
	}
	var files []sandbox.KeyFile
	for _, s := range provider.Specs() {
		if s.Sandbox == nil || s.Sandbox.GenerateKeys == nil {
			continue
		}
		fs, err := s.Sandbox.GenerateKeys()
		if err != nil {
			return "", fmt.Errorf("%s: %v", s.Name, err)
		}
		files = append(files, fs...)
	}
	if !cfg.Overwrite {
		for _, f := range files {
			if _, err := os.Lstat(filepath.Join(abs, f.Name)); err == nil {
				return "", fmt.Errorf("%s already exists; refusing to overwrite keys (use --force)", filepath.Join(abs, f.Name))
			}
		}
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", err
	}
	for _, f := range files {
		if err := writeExclusive(filepath.Join(abs, f.Name), f.Data, f.Mode, cfg.Overwrite); err != nil {
			return "", err
		}
	}
	ps, err := Load(abs, provider.SandboxOptions{})
	if err != nil {
		return "", err
	}
	return Snippet(ps, abs, cfg.SandboxURL)
}

// writeExclusive creates path with mode. os.WriteFile keeps the mode of an
// existing file, so an overwritten private key could stay world-readable:
// the old file is removed and the new one created exclusively instead.
func writeExclusive(path string, data []byte, mode os.FileMode, overwrite bool) error {
	if overwrite {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// caddyfileToken writes v as one Caddyfile token: bare, or quoted when it
// holds spaces. A brace would be read as a placeholder, and a quote or a
// newline cannot be written safely, so such values are refused.
func caddyfileToken(v string) (string, error) {
	if v == "" || strings.ContainsAny(v, "\"\n\r{}`\\") {
		return "", fmt.Errorf("%q cannot be written into a Caddyfile; choose a plainer directory", clip(v))
	}
	if strings.ContainsAny(v, " \t#") {
		return `"` + v + `"`, nil
	}
	return v, nil
}

// Snippet returns the Caddyfile lines for the providers' sandboxes, whose
// keys are in dir (absolute), served at sandboxURL.
func Snippet(ps []*Provider, dir, sandboxURL string) (string, error) {
	if sandboxURL == "" {
		sandboxURL = DefaultSandboxURL
	}
	base := strings.TrimRight(sandboxURL, "/")
	if _, err := caddyfileToken(base); err != nil {
		return "", err
	}
	d, err := caddyfileToken(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Sandbox keys in %s: test keys, never for a real merchant account.\n", dir)
	for _, p := range ps {
		block, err := HandlerBlock(p.Name(), p.Settings(base))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "#\n# In the route %s posts notifications to:\n%s", p.Name(), block)
	}
	fmt.Fprintf(&b, "#\n# The sandbox, in its own site (%s), or run: payguard sim serve --keys %s\n", base, d)
	fmt.Fprintf(&b, "payguard_sim {\n\tkeys %s\n}\n", d)
	return b.String(), nil
}

// HandlerBlock writes a `payguard <name> { ... }` block from settings, the
// query ones in its `query` block. It is also how the end-to-end suites
// configure a route for a sandbox.
func HandlerBlock(name string, settings []provider.Setting) (string, error) {
	var b, q strings.Builder
	line := func(w *strings.Builder, indent string, s provider.Setting) error {
		w.WriteString(indent + s.Name)
		for _, a := range s.Args {
			t, err := argToken(a)
			if err != nil {
				return fmt.Errorf("%s %s: %v", name, s.Name, err)
			}
			w.WriteString(" " + t)
		}
		w.WriteByte('\n')
		return nil
	}
	fmt.Fprintf(&b, "payguard %s {\n", name)
	for _, s := range settings {
		w, indent := &b, "\t"
		if s.Query {
			w, indent = &q, "\t\t"
		}
		if err := line(w, indent, s); err != nil {
			return "", err
		}
	}
	if q.Len() > 0 {
		b.WriteString("\tquery {\n" + q.String() + "\t}\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// argToken writes an option's value as one Caddyfile token. Unlike a path,
// a value may hold braces (a generic provider's {secret} marker, a CEL map
// literal): the token is quoted then, never split into a block.
func argToken(v string) (string, error) {
	if v == "" || strings.ContainsAny(v, "\n\r") {
		return "", fmt.Errorf("%q cannot be written into a Caddyfile", clip(v))
	}
	switch {
	case strings.Contains(v, "\"") || strings.Contains(v, "\\"):
		// A CEL expression with string literals: a backtick token keeps
		// its quotes and backslashes verbatim.
		if strings.Contains(v, "`") {
			return "", fmt.Errorf("%q cannot be written into a Caddyfile", clip(v))
		}
		return "`" + v + "`", nil
	case strings.ContainsAny(v, " \t#{}`"):
		if strings.Contains(v, "`") {
			return "", fmt.Errorf("%q cannot be written into a Caddyfile", clip(v))
		}
		return `"` + v + `"`, nil
	}
	return v, nil
}
