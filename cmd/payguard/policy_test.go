package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestPolicyTestCommand runs `payguard policy test` as an operator's CI
// would, on the shipped policies and on broken ones: the exit status is
// the contract (DESIGN.md section 8).
func TestPolicyTestCommand(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.cel")
	os.WriteFile(broken, []byte("// a type error\nnotification.amount == \"1234\"\n"), 0o600)
	flipped := filepath.Join(dir, "flipped.json")
	b, err := os.ReadFile("../../policies/alipay/other-seller.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(flipped, []byte(strings.Replace(string(b), `"expect": "deny"`, `"expect": "allow"`, 1)), 0o600)

	cases := []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"shipped policy and cases", []string{"policy", "test", "policies/alipay.cel", "--case", "policies/alipay"}, 0,
			[]string{"ok   allow policies/alipay/paid.json", "ok   deny  policies/alipay/other-seller.json  (policies/alipay.cel: notification.raw.seller_id", "all 6 cases"}},
		{"several policies, cases after one --case", []string{"policy", "test", "policies/alipay.cel", "policies/amount-ceiling.cel", "--case", "policies/alipay/paid.json", "policies/amount-ceiling/small.json"}, 0,
			[]string{"all 2 cases"}},
		{"a case not as expected", []string{"policy", "test", "policies/alipay.cel", "--case", flipped}, 1,
			[]string{"FAIL deny ", "expected allow", "1 of 1 cases"}},
		{"a policy that does not compile", []string{"policy", "test", broken, "--case", "policies/alipay"}, 2,
			[]string{"broken.cel:2:21: found no matching overload for '_==_'"}},
	}
	for _, c := range cases {
		out, err := run(t, "../..", c.args...)
		if got := exitCode(err); got != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, got, c.code, out)
		}
		for _, want := range c.out {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, want, out)
			}
		}
	}
}
