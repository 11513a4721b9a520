package gate

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed default_policy.yaml
var defaultPolicyYAML []byte

// DefaultPolicyYAML is the policy shipped in the binary, as a commented YAML file users copy.
func DefaultPolicyYAML() []byte { return slices.Clone(defaultPolicyYAML) }

// Policy says how the gate judges: statistical settings, score thresholds, guardrails and each
// metric's weight, direction and tolerance. Load it with DefaultPolicy or LoadPolicy.
type Policy struct {
	Confidence          float64 `yaml:"confidence"`
	IQRFactor           float64 `yaml:"iqr_factor"`
	MultipleComparisons string  `yaml:"multiple_comparisons"`
	Bootstrap           struct {
		Resamples int    `yaml:"resamples"`
		Seed      uint64 `yaml:"seed"`
	} `yaml:"bootstrap"`
	MaxSamples int `yaml:"max_samples"`
	Score      struct {
		Pass     float64 `yaml:"pass"`
		Marginal float64 `yaml:"marginal"`
	} `yaml:"score"`
	MarginalIs   string   `yaml:"marginal_is"`
	Strata       []string `yaml:"strata"`
	DistStrata   []string `yaml:"distribution_strata"`
	MinSessions  int64    `yaml:"min_sessions"`
	Completeness struct {
		Quantile float64       `yaml:"quantile"`
		MaxDelay time.Duration `yaml:"max_delay"`
	} `yaml:"completeness"`
	Guardrails struct {
		CrashRate        Guardrail `yaml:"crash_rate"`
		ANRRate          Guardrail `yaml:"anr_rate"`
		MinModelSessions int64     `yaml:"min_model_sessions"`
	} `yaml:"guardrails"`
	Metrics metricSet `yaml:"metrics"`
	Compat  struct {
		Weight          float64 `yaml:"weight"`
		Critical        bool    `yaml:"critical"`
		MaxPassRateDrop float64 `yaml:"max_pass_rate_drop"`
		MaxFlakyRate    float64 `yaml:"max_flaky_rate"`
	} `yaml:"compat"`

	lines map[string]int // "metrics.crash_rate.weight" -> line, for Validate's messages
	file  string
}

// Guardrail is an absolute ceiling on a rate, overall and on any one device model.
type Guardrail struct {
	Overall  float64 `yaml:"overall"`
	PerModel float64 `yaml:"per_model"`
}

// MetricPolicy configures one metric's judgement.
type MetricPolicy struct {
	Weight     float64 `yaml:"weight"`
	Critical   bool    `yaml:"critical"`
	Direction  string  `yaml:"direction"` // the bad direction: increase | decrease
	Tolerance  float64 `yaml:"tolerance"` // relative change allowed before a significant change fails
	MinDelta   float64 `yaml:"min_delta"` // absolute change below which nothing fails
	MinSamples int64   `yaml:"min_samples"`
}

// metricSet decodes metric entries over the ones already there, so a policy file can change
// one field of one metric and keep the defaults of the rest.
type metricSet map[string]*MetricPolicy

var metricFields = []string{"weight", "critical", "direction", "tolerance", "min_delta", "min_samples"}

func (ms *metricSet) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: metrics: want a mapping of metric name to settings", n.Line)
	}
	if *ms == nil {
		*ms = metricSet{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		id, v := n.Content[i].Value, n.Content[i+1]
		if v.Kind == yaml.MappingNode {
			// Node.Decode does not inherit KnownFields, so unknown keys are checked here.
			for j := 0; j+1 < len(v.Content); j += 2 {
				if k := v.Content[j]; !slices.Contains(metricFields, k.Value) {
					return fmt.Errorf("line %d: field %s not found in metric %s (fields: %s)", k.Line, k.Value, id, strings.Join(metricFields, ", "))
				}
			}
		}
		m := (*ms)[id]
		if m == nil {
			m = &MetricPolicy{}
		} else {
			c := *m
			m = &c
		}
		if err := v.Decode(m); err != nil {
			return err
		}
		(*ms)[id] = m
	}
	return nil
}

// Stratum dimensions a policy may list.
const (
	DimOverall = "overall"
	DimNetTier = "net_tier"
	DimModel   = "model"
	DimOS      = "os_version"
)

// DefaultPolicy returns the shipped policy.
func DefaultPolicy() *Policy {
	p, err := parsePolicy("default policy", defaultPolicyYAML, nil)
	if err != nil {
		panic("gate: shipped default policy is invalid: " + err.Error()) // caught by tests
	}
	return p
}

// LoadPolicy reads a policy file over the defaults: keys it leaves out keep their default.
// Errors name file:line.
func LoadPolicy(path string) (*Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return parsePolicy(path, raw, DefaultPolicy())
}

// ParsePolicy parses policy YAML named name (for messages) over the defaults.
func ParsePolicy(name string, raw []byte) (*Policy, error) {
	return parsePolicy(name, raw, DefaultPolicy())
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

func parsePolicy(name string, raw []byte, base *Policy) (*Policy, error) {
	p := base
	if p == nil {
		p = &Policy{}
	}
	// Metrics decode into existing entries so a file can change one field of one metric.
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(p)
	var te *yaml.TypeError
	switch {
	case err == nil || errors.Is(err, io.EOF):
	case errors.As(err, &te):
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = name + ":" + lineRE.ReplaceAllString(m, "$1: ")
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	default:
		return nil, fmt.Errorf("%s:%s", name, lineRE.ReplaceAllString(err.Error(), "$1: "))
	}
	p.file = name
	p.lines = map[string]int{}
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) == nil && len(root.Content) > 0 {
		collectLines(root.Content[0], "", p.lines)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func collectLines(n *yaml.Node, prefix string, out map[string]int) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := prefix + n.Content[i].Value
		out[k] = n.Content[i].Line
		collectLines(n.Content[i+1], k+".", out)
	}
}

// at prefixes a message with file:line of the key (or of its nearest parent present in the
// file; file alone when the value came from the defaults).
func (p *Policy) at(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	for k := key; k != ""; {
		if l, ok := p.lines[k]; ok {
			return fmt.Errorf("%s:%d: %s: %s", p.file, l, key, msg)
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return fmt.Errorf("%s: %s: %s", p.file, key, msg)
}

// Validate checks every setting; messages name file:line and the key.
func (p *Policy) Validate() error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, p.at(key, format, args...))
		}
	}
	check(p.Confidence > 0.5 && p.Confidence < 1, "confidence", "%v: want a level in (0.5, 1), e.g. 0.98", p.Confidence)
	check(p.IQRFactor >= 0, "iqr_factor", "%v: want >= 0 (0 keeps outliers)", p.IQRFactor)
	check(slices.Contains([]string{"benjamini-hochberg", "holm", "none"}, p.MultipleComparisons),
		"multiple_comparisons", "%q: want benjamini-hochberg, holm or none", p.MultipleComparisons)
	check(p.Bootstrap.Resamples >= 100 && p.Bootstrap.Resamples <= 100000, "bootstrap.resamples", "%d: want 100..100000", p.Bootstrap.Resamples)
	check(p.MaxSamples >= 100, "max_samples", "%d: want >= 100", p.MaxSamples)
	check(p.Score.Pass > 0 && p.Score.Pass <= 100, "score.pass", "%v: want (0, 100]", p.Score.Pass)
	check(p.Score.Marginal >= 0 && p.Score.Marginal <= p.Score.Pass, "score.marginal", "%v: want 0..score.pass (%v)", p.Score.Marginal, p.Score.Pass)
	check(p.MarginalIs == "fail" || p.MarginalIs == "pass", "marginal_is", "%q: want fail or pass", p.MarginalIs)
	for _, s := range p.Strata {
		check(slices.Contains([]string{DimNetTier, DimModel, DimOS}, s), "strata", "%q: want net_tier, model or os_version", s)
	}
	for _, s := range p.DistStrata {
		check(slices.Contains(p.Strata, s), "distribution_strata", "%q: want one of strata (%s)", s, strings.Join(p.Strata, ", "))
	}
	check(p.MinSessions >= 1, "min_sessions", "%d: want >= 1", p.MinSessions)
	check(p.Completeness.Quantile > 0 && p.Completeness.Quantile <= 1, "completeness.quantile", "%v: want (0, 1]", p.Completeness.Quantile)
	check(p.Completeness.MaxDelay > 0, "completeness.max_delay", "%v: want a positive duration such as 18h", p.Completeness.MaxDelay)
	for _, g := range []struct {
		key string
		v   Guardrail
	}{{"guardrails.crash_rate", p.Guardrails.CrashRate}, {"guardrails.anr_rate", p.Guardrails.ANRRate}} {
		check(g.v.Overall > 0 && g.v.Overall < 1, g.key+".overall", "%v: want a rate in (0, 1), e.g. 0.0109", g.v.Overall)
		check(g.v.PerModel > 0 && g.v.PerModel < 1, g.key+".per_model", "%v: want a rate in (0, 1), e.g. 0.08", g.v.PerModel)
	}
	for id, m := range p.Metrics {
		key := "metrics." + id
		if _, ok := metricDefs[id]; !ok {
			errs = append(errs, p.at(key, "unknown metric; known: %s", strings.Join(MetricIDs(), ", ")))
			continue
		}
		if m == nil {
			errs = append(errs, p.at(key, "empty; give at least weight"))
			continue
		}
		check(m.Weight >= 0, key+".weight", "%v: want >= 0 (0 reports without scoring)", m.Weight)
		check(m.Direction == "increase" || m.Direction == "decrease", key+".direction", "%q: want increase or decrease (the bad direction)", m.Direction)
		check(m.Tolerance >= 0, key+".tolerance", "%v: want >= 0", m.Tolerance)
		check(m.MinDelta >= 0, key+".min_delta", "%v: want >= 0", m.MinDelta)
		check(m.MinSamples >= 10, key+".min_samples", "%d: want >= 10 (the tests need samples)", m.MinSamples)
	}
	check(p.Compat.Weight >= 0, "compat.weight", "%v: want >= 0", p.Compat.Weight)
	check(p.Compat.MaxPassRateDrop >= 0 && p.Compat.MaxPassRateDrop < 1, "compat.max_pass_rate_drop", "%v: want [0, 1)", p.Compat.MaxPassRateDrop)
	check(p.Compat.MaxFlakyRate >= 0 && p.Compat.MaxFlakyRate <= 1, "compat.max_flaky_rate", "%v: want [0, 1]", p.Compat.MaxFlakyRate)
	return errors.Join(errs...)
}

func (p *Policy) has(dim string) bool { return slices.Contains(p.Strata, dim) }
