package gate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if p.Confidence != 0.98 || p.IQRFactor != 3.0 || p.Guardrails.CrashRate.Overall != 0.0109 ||
		p.Guardrails.ANRRate.Overall != 0.0047 || p.Guardrails.CrashRate.PerModel != 0.08 {
		t.Errorf("defaults drifted from Kayenta / Android vitals: %+v", p)
	}
	for _, id := range MetricIDs() {
		if p.Metrics[id] == nil {
			t.Errorf("default policy lacks metric %s", id)
		}
	}
}

func TestPolicyOverridesKeepDefaults(t *testing.T) {
	p, err := ParsePolicy("p.yaml", []byte("metrics:\n  crash_rate: {weight: 9}\nconfidence: 0.95\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := p.Metrics["crash_rate"]
	if m.Weight != 9 || m.Direction != "increase" || !m.Critical || p.Confidence != 0.95 || p.Metrics["anr_rate"] == nil {
		t.Errorf("override lost defaults: %+v confidence %v", m, p.Confidence)
	}
	if DefaultPolicy().Metrics["crash_rate"].Weight == 9 {
		t.Error("override leaked into the shipped defaults")
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "confidence: 0.98\nconfidense: 0.9\n", "bad.yaml:2: field confidense not found"},
		{"bad type", "score:\n  pass: high\n", "bad.yaml:2: cannot unmarshal"},
		{"out of range", "\nconfidence: 1.5\n", "bad.yaml:2: confidence: 1.5"},
		{"unknown metric", "metrics:\n  fps: {weight: 1}\n", "bad.yaml:2: metrics.fps: unknown metric"},
		{"bad direction", "metrics:\n  crash_rate:\n    direction: up\n", "bad.yaml:3: metrics.crash_rate.direction: \"up\""},
		{"unknown metric field", "metrics:\n  crash_rate:\n    wieght: 2\n", "bad.yaml:3: field wieght not found in metric crash_rate"},
		{"bad stratum", "strata: [net_tier, country]\n", "bad.yaml:1: strata: \"country\""},
		{"syntax", "confidence: [\n", "bad.yaml:"},
		{"marginal above pass", "score: {pass: 80, marginal: 90}\n", "bad.yaml:1: score.marginal: 90"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadPolicy(path)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := strings.ReplaceAll(err.Error(), path, "bad.yaml")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
		})
	}
	if _, err := LoadPolicy("/nonexistent/policy.yaml"); err == nil || !strings.Contains(err.Error(), "/nonexistent/policy.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
