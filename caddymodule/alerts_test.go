package caddymodule

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/payguard/payguard/internal/audit"
	"github.com/payguard/payguard/internal/recovery"
)

// alertFile is the part of a Prometheus rule file payguard's example uses.
type alertFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	metricRef    = regexp.MustCompile(`\bpayguard_[a-z_]+`)
	selector     = regexp.MustCompile(`(payguard_[a-z_]+)\{([^}]*)\}`)
	matcher      = regexp.MustCompile(`^\s*([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*$`)
	byClause     = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	alertName    = regexp.MustCompile(`^Payguard[A-Z][A-Za-z]+$`)
)

// labelValues are the values a rule may match for the bounded labels.
func labelValues() map[string][]string {
	return map[string][]string{
		"outcome": {string(audit.Forwarded), string(audit.Rejected), string(audit.Duplicate), string(audit.Failed)},
		"result":  {recovery.Delivered, recovery.Reported, recovery.Unconfirmed, recovery.Failed},
		"store":   {"memory", "redis"},
	}
}

// checkAlertRules lists what is wrong with a rule file: its structure,
// and every metric, label and label value its expressions use against
// what payguard registers.
func checkAlertRules(data []byte, metrics map[string]metricInfo) (problems []string, used map[string]bool) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f alertFile
	if err := dec.Decode(&f); err != nil {
		return []string{"not a rule file: " + err.Error()}, nil
	}
	if len(f.Groups) == 0 {
		bad("no groups")
	}
	used = map[string]bool{}
	seen := map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			bad("group %q: a name and rules are required", g.Name)
		}
		for _, r := range g.Rules {
			if !alertName.MatchString(r.Alert) || seen[r.Alert] {
				bad("alert %q: not a unique Payguard* name", r.Alert)
			}
			seen[r.Alert] = true
			if !promDuration.MatchString(r.For) {
				bad("%s: for %q is not a duration", r.Alert, r.For)
			}
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				bad("%s: severity %q (page or ticket)", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				bad("%s: a summary and a description are required", r.Alert)
			}
			for _, p := range checkExpr(r.Expr, metrics, used) {
				bad("%s: %s", r.Alert, p)
			}
		}
	}
	return problems, used
}

// checkExpr checks one PromQL expression's brackets, metric names,
// selectors and by-clauses.
func checkExpr(expr string, metrics map[string]metricInfo, used map[string]bool) (problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	depth := map[rune]int{}
	for _, c := range expr {
		switch c {
		case '(', '[', '{':
			depth[c]++
		case ')':
			depth['(']--
		case ']':
			depth['[']--
		case '}':
			depth['{']--
		}
	}
	for open, d := range depth {
		if d != 0 {
			bad("unbalanced %c", open)
		}
	}
	labelsInExpr := map[string]bool{}
	for _, ref := range metricRef.FindAllString(expr, -1) {
		name, info, ok := resolveMetric(ref, metrics)
		if !ok {
			bad("%s is not a metric payguard registers", ref)
			continue
		}
		used[name] = true
		for l := range info.labels {
			labelsInExpr[l] = true
		}
	}
	values := labelValues()
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		_, info, ok := resolveMetric(m[1], metrics)
		if !ok {
			continue
		}
		for _, part := range strings.Split(m[2], ",") {
			mm := matcher.FindStringSubmatch(part)
			if mm == nil {
				bad("%s: cannot read the matcher %q", m[1], part)
				continue
			}
			if !info.labels[mm[1]] {
				bad("%s has no label %s", m[1], mm[1])
			}
			if known, ok := values[mm[1]]; ok {
				for _, v := range strings.Split(mm[3], "|") {
					if !slices.Contains(known, v) {
						bad("%s: %s=%q is not one of %v", m[1], mm[1], v, known)
					}
				}
			}
		}
	}
	for _, m := range byClause.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); !labelsInExpr[l] {
				bad("by (%s): no metric of the expression has that label", l)
			}
		}
	}
	return problems
}

// resolveMetric finds a referenced series name's metric: a histogram's
// _bucket, _sum and _count are its own.
func resolveMetric(ref string, metrics map[string]metricInfo) (string, metricInfo, bool) {
	if info, ok := metrics[ref]; ok && !info.histogram {
		return ref, info, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base := strings.TrimSuffix(ref, suffix)
		if info, ok := metrics[base]; ok && info.histogram && base != ref {
			if suffix == "_bucket" {
				info.labels = map[string]bool{"le": true}
				for l := range metrics[base].labels {
					info.labels[l] = true
				}
			}
			return base, info, true
		}
	}
	return "", metricInfo{}, false
}

// TestAlertRules: docs/alerts.yml is a rule file whose every metric,
// label and label value is payguard's, with a rule on the success rate
// per provider, the store errors, the audit errors and recovery.
func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(docsDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	metrics := registeredMetrics(t)
	problems, used := checkAlertRules(data, metrics)
	for _, p := range problems {
		t.Error(p)
	}
	for _, m := range []string{"payguard_notifications_total", "payguard_store_errors_total", "payguard_audit_errors_total", "payguard_recovery_total"} {
		if !used[m] {
			t.Errorf("no rule on %s", m)
		}
	}
}

// TestAlertRulesChecker: the checker finds what a broken rule file gets
// wrong.
func TestAlertRulesChecker(t *testing.T) {
	metrics := registeredMetrics(t)
	for _, c := range []struct{ expr, want string }{
		{`rate(payguard_notification_total[5m]) > 0`, "payguard_notification_total is not a metric"},
		{`rate(payguard_notifications_total{state="x"}[5m]) > 0`, "has no label state"},
		{`rate(payguard_notifications_total{outcome=~"forwarded|duplicated"}[5m]) > 0`, `outcome="duplicated" is not one of`},
		{`sum by (store) (rate(payguard_audit_errors_total[5m])) > 0`, "by (store): no metric"},
		{`sum(rate(payguard_store_errors_total[5m]) > 0`, "unbalanced ("},
		{`payguard_stage_duration_seconds > 1`, "payguard_stage_duration_seconds is not a metric"},
		{`histogram_quantile(0.99, rate(payguard_stage_duration_seconds_bucket{stage="query",le="1"}[5m])) > 1`, ""},
	} {
		file := fmt.Sprintf(`groups:
  - name: g
    rules:
      - alert: PayguardTest
        expr: '%s'
        for: 5m
        labels: {severity: page}
        annotations: {summary: s, description: d}
`, c.expr)
		problems, _ := checkAlertRules([]byte(file), metrics)
		got := strings.Join(problems, "; ")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: problems %q, want %q", c.expr, got, c.want)
		}
	}
	if problems, _ := checkAlertRules([]byte("groups:\n  - name: g\n    rules:\n      - alert: lower\n        expr: up\n        for: soon\n        labels: {}\n        annotations: {}\n        extra: 1\n"), metrics); len(problems) != 1 || !strings.Contains(problems[0], "extra") {
		t.Errorf("an unknown field: %v", problems)
	}
}
