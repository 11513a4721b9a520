package suite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGoodSuite(t *testing.T) {
	s, _, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "checkout-compat" || !s.Matrix || s.Retry.PerTestRetries() != 2 || s.Retry.Preventive.Target != 0.99 {
		t.Errorf("decoded %+v", s)
	}
	if s.Network.UnshapedToo() {
		t.Error("profiles given and unshaped unset: want profiled runs only")
	}
	devs := []Device{
		{Serial: "R58M1", Platform: "android", Manufacturer: "Samsung", Model: "SM-A125F", OSVersion: "12", APILevel: 31, Tier: "low", Labels: map[string]string{"rack": "r1"}},
		{Serial: "R58M2", Platform: "android", Manufacturer: "Samsung", Model: "SM-A125F", OSVersion: "10", APILevel: 29, Tier: "low", Labels: map[string]string{"rack": "r1"}},
		{Serial: "X1", Platform: "android", Manufacturer: "Xiaomi", Model: "M2101K6G", OSVersion: "13", APILevel: 33, Tier: "mid", Labels: map[string]string{"rack": "r1"}},
		{Serial: "G1", Platform: "android", Manufacturer: "Google", Model: "Pixel 7", OSVersion: "14", APILevel: 34, Tier: "high", Labels: map[string]string{"rack": "r2"}},
		{Serial: "G2", Platform: "android", Manufacturer: "Google", Model: "Pixel 7", OSVersion: "14.1", APILevel: 34, Tier: "high", Labels: map[string]string{"rack": "r1"}},
		{Serial: "ios1", Platform: "ios", Manufacturer: "Apple", Model: "iPhone 13", OSVersion: "17.6", Labels: map[string]string{"rack": "r1"}},
	}
	var got []string
	for _, d := range s.Select(devs) {
		got = append(got, d.Serial)
	}
	if strings.Join(got, ",") != "R58M1,G2" {
		t.Errorf("selected %v, want R58M1,G2 (OS 10 out of range, Xiaomi not listed, G1 wrong rack, iOS other platform)", got)
	}
	tests := s.SelectTests([]TestCase{
		{Class: "com.example.shop.CheckoutTest", Method: "pays"},
		{Class: "com.example.shop.CartTest", Method: "slowSync"},
		{Class: "com.example.shop.CartTest", Method: "big", Annotations: []string{"androidx.test.filters.LargeTest"}},
		{Class: "com.example.other.X", Method: "y"},
		{Class: "com.example.shop.CartTest", Method: "adds"},
	})
	if len(tests) != 2 || tests[0].Method != "pays" || tests[1].Method != "adds" {
		t.Errorf("tests %+v", tests)
	}
	if !s.Profiled(tests[0]) || s.Profiled(tests[1]) {
		t.Error("network.only should profile CheckoutTest only")
	}
}

func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		r, v string
		want bool
	}{
		{">=11 <14", "13", true}, {">=11 <14", "14", false}, {">=11 <14", "10", false},
		{"13", "13.1", true}, {"13", "12", false}, {">16.4", "17.6", true}, {"<=33", "33", true},
	} {
		r, err := ParseRange(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Contains(tc.v); got != tc.want {
			t.Errorf("%q contains %q = %v", tc.r, tc.v, got)
		}
	}
}

// Bad suites, Prometheus config_test style: each file and the errors it must give.
var expectedErrors = []struct {
	file string
	errs []string
}{
	{"unknown_field.yaml", []string{"unknown_field.yaml:3: devices.colour: unknown field (known: api, labels, manufacturers, max, models, os, pools, serial, tiers)"}},
	{"bad_yaml.yaml", []string{"bad_yaml.yaml:3: found unexpected end of stream"}},
	{"bad_os_range.yaml", []string{`bad_os_range.yaml:3: devices.os: ">=eleven": "eleven" is not a version`}},
	{"unknown_profile.yaml", []string{`unknown_profile.yaml:4: network.profiles[1]: unknown profile "5g" (known: 2g-rural, 2g-urban, 3g-average, 3g-good, dsl, edge-lossy)`}},
	{"bad_duration.yaml", []string{`bad_duration.yaml:3: timeouts.test: "soon" is not a duration`}},
	{"bad_int.yaml", []string{"bad_int.yaml:3: cannot unmarshal !!str `many`"}},
	{"bad_target.yaml", []string{"bad_target.yaml:4: retry.preventive.target: 1.5: want a probability in [0, 1)"}},
	{"missing_name_bad_tier.yaml", []string{"missing_name_bad_tier.yaml:1: name: required", `missing_name_bad_tier.yaml:2: devices.tiers[0]: "potato": want low, mid or high`}},
	{"bad_test_ref.yaml", []string{`bad_test_ref.yaml:3: tests.list[1]: "justAName": want Class#method`}},
	{"profile_no_upstream.yaml", []string{"profile_no_upstream.yaml:2: network.upstream: required with network.profiles"}},
	{"bad_regex.yaml", []string{"bad_regex.yaml:3: devices.serial: not a regular expression"}},
	{"not_mapping.yaml", []string{"not_mapping.yaml:1: a suite is a mapping of fields"}},
	{"empty.yaml", []string{"empty.yaml"}},
}

func TestBadSuites(t *testing.T) {
	seen := map[string]bool{"good.yaml": true}
	for _, tc := range expectedErrors {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			_, _, err := Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			es, ok := err.(Errors)
			if !ok {
				t.Fatalf("error %T %v is not suite.Errors", err, err)
			}
			if len(es) != len(tc.errs) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tc.errs), err)
			}
			for i, want := range tc.errs {
				if got := es[i].Error(); !strings.Contains(got, strings.TrimPrefix(want, "")) && !strings.HasPrefix(got, "testdata/"+want) {
					t.Errorf("error %d:\n got  %s\n want testdata/%s", i, got, want)
				}
			}
		})
	}
	files, _ := os.ReadDir("testdata")
	for _, f := range files {
		if !seen[f.Name()] {
			t.Errorf("testdata/%s has no expected-error entry", f.Name())
		}
	}
}
