package suite

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Range is a conjunction of version constraints, e.g. ">=11 <14" or "13".
type Range []constraint

type constraint struct {
	op  string // = >= > <= <
	ver []int
}

// ParseRange parses space-separated constraints; a bare version means "= that version".
func ParseRange(s string) (Range, error) {
	var r Range
	for _, f := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		op := "="
		for _, o := range []string{">=", "<=", ">", "<", "="} {
			if strings.HasPrefix(f, o) {
				op, f = o, f[len(o):]
				break
			}
		}
		v, err := parseVersion(f)
		if err != nil {
			return nil, fmt.Errorf("%q: %w (want e.g. \">=11 <14\")", s, err)
		}
		r = append(r, constraint{op, v})
	}
	if len(r) == 0 {
		return nil, fmt.Errorf("%q: empty version range", s)
	}
	return r, nil
}

func parseVersion(s string) ([]int, error) {
	if s == "" {
		return nil, fmt.Errorf("missing version")
	}
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a version", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func compare(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		x, y := 0, 0
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Contains reports whether version v satisfies every constraint. "=13" matches 13.x too.
func (r Range) Contains(v string) bool {
	ver, err := parseVersion(v)
	if err != nil {
		return false
	}
	for _, c := range r {
		cmp := compare(ver, c.ver)
		ok := false
		switch c.op {
		case "=":
			ok = compare(ver[:min(len(ver), len(c.ver))], c.ver) == 0
		case ">=":
			ok = cmp >= 0
		case ">":
			ok = cmp > 0
		case "<=":
			ok = cmp <= 0
		case "<":
			ok = cmp < 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// Device is what selection matches against (a devices row).
type Device struct {
	Serial, Platform, Manufacturer, Model, OSVersion, Tier, State string
	APILevel                                                      int
	Labels                                                        map[string]string
}

// GroupKey is the compatibility-matrix group of a device.
func (d Device) GroupKey() string { return d.Model + "|" + d.OSVersion }

func inFold(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// Match reports whether d is selected (platform from the suite). Parse has validated ranges.
func (s *Suite) Match(d Device) bool {
	sel := s.Devices
	if d.Platform != s.Platform {
		return false
	}
	if !inFold(sel.Models, d.Model) || !inFold(sel.Manufacturers, d.Manufacturer) || !inFold(sel.Tiers, d.Tier) {
		return false
	}
	if len(sel.Pools) > 0 && !inFold(sel.Pools, d.Labels["pool"]) {
		return false
	}
	for k, v := range sel.Labels {
		if d.Labels[k] != v {
			return false
		}
	}
	if sel.OS != "" {
		if r, _ := ParseRange(sel.OS); !r.Contains(d.OSVersion) {
			return false
		}
	}
	if sel.API != "" {
		if r, _ := ParseRange(sel.API); !r.Contains(strconv.Itoa(d.APILevel)) {
			return false
		}
	}
	if sel.Serial != "" {
		if re, _ := regexp.Compile(sel.Serial); !re.MatchString(d.Serial) {
			return false
		}
	}
	return true
}

// Select returns the matching devices (quarantined and offline ones are kept: they may come
// back; the agent's health gate decides), at most Devices.Max, in the order given.
func (s *Suite) Select(all []Device) []Device {
	var out []Device
	for _, d := range all {
		if s.Match(d) {
			out = append(out, d)
			if s.Devices.Max > 0 && len(out) >= s.Devices.Max {
				break
			}
		}
	}
	return out
}

// TestCase is a test the test app offers.
type TestCase struct {
	Class, Method string
	Annotations   []string
}

func (f Filter) empty() bool {
	return len(f.Classes) == 0 && len(f.Methods) == 0 && len(f.Annotations) == 0
}

func (f Filter) match(t TestCase) bool {
	for _, c := range f.Classes {
		if c == t.Class || (strings.HasSuffix(c, ".*") && strings.HasPrefix(t.Class, strings.TrimSuffix(c, "*"))) {
			return true
		}
	}
	for _, m := range f.Methods {
		if m == t.Class+"#"+t.Method {
			return true
		}
	}
	for _, a := range f.Annotations {
		for _, ta := range t.Annotations {
			if a == ta || strings.HasSuffix(ta, "."+a) {
				return true
			}
		}
	}
	return false
}

// SelectTests applies include/exclude to the offered tests (or to tests.list when the test
// app offers none).
func (s *Suite) SelectTests(offered []TestCase) []TestCase {
	if len(offered) == 0 {
		for _, l := range s.Tests.List {
			c, m, _ := strings.Cut(l, "#")
			offered = append(offered, TestCase{Class: c, Method: m})
		}
	}
	var out []TestCase
	for _, t := range offered {
		if !s.Tests.Include.empty() && !s.Tests.Include.match(t) {
			continue
		}
		if s.Tests.Exclude.match(t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// Profiled reports whether t runs under the network profiles.
func (s *Suite) Profiled(t TestCase) bool {
	return s.Network.Only.empty() || s.Network.Only.match(t)
}
