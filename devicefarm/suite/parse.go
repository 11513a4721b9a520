package suite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fleetlens/fleetlens/devicefarm/netprofile"
)

// FieldError is one problem in a suite file.
type FieldError struct {
	File  string
	Line  int
	Field string // dotted path, e.g. devices.os
	Msg   string
}

func (e FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found, in file order.
type Errors []FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Load reads and validates a suite file.
func Load(path string) (*Suite, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read suite: %w", err)
	}
	s, err := Parse(path, data)
	return s, data, err
}

// Parse decodes and validates a suite; errors are Errors naming file:line and field.
func Parse(file string, data []byte) (*Suite, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	if len(root.Content) == 0 {
		return nil, Errors{{File: file, Line: 1, Msg: "empty suite file"}}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: doc.Line, Msg: "a suite is a mapping of fields (name:, devices:, tests:, ...)"}}
	}
	p := &parser{file: file, lines: map[string]int{}}
	p.walk(doc, reflect.TypeOf(Suite{}), "")
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	var s Suite
	if err := doc.Decode(&s); err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	if errs := p.validate(&s); len(errs) > 0 {
		return nil, errs
	}
	return &s, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// yamlError turns a yaml.v3 error into file:line form without Go type names.
func yamlError(file string, err error) FieldError {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	fe := FieldError{File: file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		msg = strings.Replace(msg, m[0], "", 1)
	}
	msg = regexp.MustCompile(` into [\w.\[\]*]+`).ReplaceAllString(msg, "")
	fe.Msg = msg
	return fe
}

type parser struct {
	file  string
	lines map[string]int // field path -> line
	errs  Errors
}

func (p *parser) errAt(field, format string, args ...any) {
	line := p.lines[field]
	for f := field; line == 0 && f != ""; {
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
		line = p.lines[f]
	}
	if line == 0 {
		line = 1 // a missing field: point at the document
	}
	p.errs = append(p.errs, FieldError{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// walk records every field's line and reports unknown fields against the Go schema.
func (p *parser) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if u, ok := reflect.New(t).Interface().(interface{ UnmarshalText([]byte) error }); ok && n.Kind == yaml.ScalarNode {
		if err := u.UnmarshalText([]byte(n.Value)); err != nil {
			p.errs = append(p.errs, FieldError{File: p.file, Line: n.Line, Field: path, Msg: err.Error()})
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			p.errs = append(p.errs, FieldError{File: p.file, Line: n.Line, Field: path, Msg: "want a mapping of fields"})
			return
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
				fields[name] = f
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			fp := join(path, k.Value)
			p.lines[fp] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				p.errs = append(p.errs, FieldError{File: p.file, Line: k.Line, Field: fp,
					Msg: fmt.Sprintf("unknown field (known: %s)", strings.Join(keys(fields), ", "))})
				continue
			}
			p.walk(v, f.Type, fp)
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				fp := fmt.Sprintf("%s[%d]", path, i)
				p.lines[fp] = c.Line
				p.walk(c, t.Elem(), fp)
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				p.lines[join(path, n.Content[i].Value)] = n.Content[i].Line
			}
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var tiers = map[string]bool{"low": true, "mid": true, "high": true}

func (p *parser) validate(s *Suite) Errors {
	if strings.TrimSpace(s.Name) == "" {
		p.errAt("name", "required: a name for the suite")
	}
	switch s.Platform {
	case "":
		s.Platform = "android"
	case "android", "ios":
	default:
		p.errAt("platform", "%q: want android or ios", s.Platform)
	}
	if s.Devices.OS != "" {
		if _, err := ParseRange(s.Devices.OS); err != nil {
			p.errAt("devices.os", "%v", err)
		}
	}
	if s.Devices.API != "" {
		if _, err := ParseRange(s.Devices.API); err != nil {
			p.errAt("devices.api", "%v", err)
		}
	}
	for i, t := range s.Devices.Tiers {
		if !tiers[t] {
			p.errAt(fmt.Sprintf("devices.tiers[%d]", i), "%q: want low, mid or high", t)
		}
	}
	if s.Devices.Serial != "" {
		if _, err := regexp.Compile(s.Devices.Serial); err != nil {
			p.errAt("devices.serial", "not a regular expression: %v", err)
		}
	}
	if s.Devices.Max < 0 {
		p.errAt("devices.max", "must be >= 0")
	}
	seen := map[string]bool{}
	for i, name := range s.Network.Profiles {
		f := fmt.Sprintf("network.profiles[%d]", i)
		if _, ok := netprofile.Lookup(name); !ok {
			p.errAt(f, "unknown profile %q (known: %s)", name, strings.Join(netprofile.Names(), ", "))
		}
		if seen[name] {
			p.errAt(f, "profile %q listed twice", name)
		}
		seen[name] = true
	}
	if len(s.Network.Profiles) > 0 && s.Network.Upstream == "" {
		p.errAt("network.upstream", "required with network.profiles: the host:port the app talks to")
	}
	if u := s.Network.Upstream; u != "" && !strings.Contains(u, ":") {
		p.errAt("network.upstream", "%q: want host:port", u)
	}
	for i, m := range s.Tests.List {
		if c, meth, ok := strings.Cut(m, "#"); !ok || c == "" || meth == "" {
			p.errAt(fmt.Sprintf("tests.list[%d]", i), "%q: want Class#method", m)
		}
	}
	for _, f := range []struct {
		name string
		flt  Filter
	}{{"tests.include", s.Tests.Include}, {"tests.exclude", s.Tests.Exclude}, {"network.only", s.Network.Only}} {
		for i, m := range f.flt.Methods {
			if c, meth, ok := strings.Cut(m, "#"); !ok || c == "" || meth == "" {
				p.errAt(fmt.Sprintf("%s.methods[%d]", f.name, i), "%q: want Class#method", m)
			}
		}
	}
	if s.Timeouts.Test < 0 || s.Timeouts.Run < 0 {
		p.errAt("timeouts", "durations must be positive")
	}
	if s.Timeouts.Run > 0 && s.Timeouts.Test > s.Timeouts.Run {
		p.errAt("timeouts.test", "longer than timeouts.run")
	}
	if s.Retry.PerTest != nil && (*s.Retry.PerTest < 0 || *s.Retry.PerTest > 10) {
		p.errAt("retry.per_test", "%d: want 0..10", *s.Retry.PerTest)
	}
	if s.Retry.PerRun < 0 {
		p.errAt("retry.per_run", "must be >= 0")
	}
	if s.Retry.Infra < 0 || s.Retry.Infra > 10 {
		p.errAt("retry.infra", "%d: want 0..10", s.Retry.Infra)
	}
	if t := s.Retry.Preventive.Target; t < 0 || t >= 1 {
		p.errAt("retry.preventive.target", "%v: want a probability in [0, 1), e.g. 0.99", t)
	}
	if s.Retry.Preventive.MaxCopies < 0 || s.Retry.Preventive.MaxCopies > 10 {
		p.errAt("retry.preventive.max_copies", "%d: want 0..10", s.Retry.Preventive.MaxCopies)
	}
	switch s.Artifacts.Screenshots {
	case "":
		s.Artifacts.Screenshots = "failure"
	case "never", "failure", "always":
	default:
		p.errAt("artifacts.screenshots", "%q: want never, failure or always", s.Artifacts.Screenshots)
	}
	if s.Sharing.Weight < 0 {
		p.errAt("sharing.weight", "must be > 0")
	}
	if s.Sharing.Reserve < 0 {
		p.errAt("sharing.reserve", "must be >= 0")
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	return p.errs
}
