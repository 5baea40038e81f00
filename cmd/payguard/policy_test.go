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

// TestValidateNamesPolicyErrors: `payguard validate` fails on a policy that
// does not compile, naming the Caddyfile line, the policy file and CEL's
// line and column.
func TestValidateNamesPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	keyFile, err := filepath.Abs("../../examples/keys/alipay_public.pem")
	if err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "typo.cel")
	os.WriteFile(policyFile, []byte("// Guards against nothing.\nnotification.amount > 0 &&\n  notification.statuss == \"paid\"\n"), 0o600)
	cases := []struct{ name, line, want string }{
		{"file", "policy " + policyFile, policyFile + ":3:15: undefined field 'statuss', at " + dir + "/Caddyfile:5"},
		{"syntax", "policy `notification.amount <`", "notification.amount <:1:22: Syntax error"},
		{"type", "policy `notification.amount == \"1\"`", "found no matching overload for '_==_'"},
		{"non-boolean", "policy `notification.amount`", "a policy must be a boolean expression, this one is int, at " + dir + "/Caddyfile:5"},
		{"order lookup", "order_lookup http://shop/orders", "has no {out_trade_no}, at " + dir + "/Caddyfile:5"},
	}
	for _, c := range cases {
		cf := filepath.Join(dir, "Caddyfile")
		os.WriteFile(cf, []byte(":8080 {\n\tpayguard alipay {\n\t\tapp_id 2021000000000001\n\t\tpublic_key_file "+keyFile+"\n\t\t"+c.line+"\n\t}\n}\n"), 0o600)
		out, err := run(t, dir, "validate", "--config", cf)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: err %v, output lacks %q:\n%s", c.name, err, c.want, out)
		}
	}
	// A policy that compiles validates.
	cf := filepath.Join(dir, "Caddyfile")
	shipped, _ := filepath.Abs("../../policies/alipay.cel")
	os.WriteFile(cf, []byte(":8080 {\n\tpayguard alipay {\n\t\tapp_id 2021000000000001\n\t\tpublic_key_file "+keyFile+"\n\t\tpolicy "+shipped+"\n\t\torder_lookup http://127.0.0.1:1/orders/{out_trade_no}\n\t}\n}\n"), 0o600)
	if out, err := run(t, dir, "validate", "--config", cf); err != nil || !strings.Contains(out, "Valid configuration") {
		t.Errorf("a valid policy: %v\n%s", err, out)
	}
}
