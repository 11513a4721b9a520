// Package suite owns the farm's suite files: the YAML schema QA writes (device selection,
// compatibility matrix, network profiles, timeouts, retries, test filters, artifacts), its
// parsing with errors that name file:line and the field, and the pure matching of devices
// and tests against a suite. It does no I/O beyond reading the file.
package suite

import (
	"fmt"
	"time"
)

// Suite is one suite file. Field names are the YAML keys.
type Suite struct {
	Name      string    `yaml:"name"`
	Platform  string    `yaml:"platform"` // android | ios
	App       App       `yaml:"app"`
	Devices   Selection `yaml:"devices"`
	Matrix    bool      `yaml:"matrix"` // at least one run of every test on every (model, OS) group
	Network   Network   `yaml:"network"`
	Tests     Tests     `yaml:"tests"`
	Timeouts  Timeouts  `yaml:"timeouts"`
	Retry     Retry     `yaml:"retry"`
	Artifacts Artifacts `yaml:"artifacts"`
	Sharing   Sharing   `yaml:"sharing"`
	Baseline  string    `yaml:"baseline"` // release to compare against in the summary
}

// App names the app under test when the APK cannot tell (its manifest wins otherwise).
type App struct {
	ID     string `yaml:"id"`
	TestID string `yaml:"test_id"`
	Runner string `yaml:"runner"`
}

// Selection picks devices; every set field must match (AND), list entries are ORed.
type Selection struct {
	Pools         []string          `yaml:"pools"` // devices.labels.pool
	Models        []string          `yaml:"models"`
	Manufacturers []string          `yaml:"manufacturers"`
	OS            string            `yaml:"os"`  // version range, e.g. ">=11 <14" or "13"
	API           string            `yaml:"api"` // API level range, e.g. ">=30"
	Tiers         []string          `yaml:"tiers"`
	Labels        map[string]string `yaml:"labels"`
	Serial        string            `yaml:"serial"` // regular expression
	Max           int               `yaml:"max"`    // use at most this many devices
}

// Network lists the lab profiles (SPEC §4) to run tests under.
type Network struct {
	Upstream string   `yaml:"upstream"` // host:port the app talks to; proxied per profile
	Profiles []string `yaml:"profiles"`
	// Unshaped also runs every test without a profile (default true when profiles is empty).
	Unshaped *bool `yaml:"unshaped"`
	// Only limits profiled runs to tests matching this filter (all tests when empty).
	Only Filter `yaml:"only"`
}

// Filter matches tests by class, method (Class#method) or annotation.
type Filter struct {
	Classes     []string `yaml:"classes"`
	Methods     []string `yaml:"methods"`
	Annotations []string `yaml:"annotations"`
}

// Tests picks the tests: the test APK's list (or List) filtered by Include/Exclude.
type Tests struct {
	List    []string `yaml:"list"` // Class#method, used when the test app carries no list
	Include Filter   `yaml:"include"`
	Exclude Filter   `yaml:"exclude"`
}

// Timeouts per test and per run.
type Timeouts struct {
	Test Duration `yaml:"test"`
	Run  Duration `yaml:"run"`
}

// Retry policy: test failures retry on another device within the quotas; infrastructure
// failures re-queue up to Infra times without touching them.
type Retry struct {
	PerTest    *int       `yaml:"per_test"` // default 2
	PerRun     int        `yaml:"per_run"`  // default max(10, 10% of tests)
	Infra      int        `yaml:"infra"`    // default 3
	Preventive Preventive `yaml:"preventive"`
}

// Preventive copies for historically flaky tests: n with 1 - f^n >= Target.
type Preventive struct {
	Target    float64 `yaml:"target"`     // e.g. 0.99; 0 disables
	MaxCopies int     `yaml:"max_copies"` // default 3
}

// Artifacts to keep per attempt.
type Artifacts struct {
	Logs        *bool  `yaml:"logs"`        // log excerpt per attempt (default true)
	Screenshots string `yaml:"screenshots"` // never | failure (default) | always
	Crashes     *bool  `yaml:"crashes"`     // crash/ANR reports (default true)
}

// Sharing between runs competing for devices.
type Sharing struct {
	Priority int     `yaml:"priority"`
	Weight   float64 `yaml:"weight"`  // fair-share weight, default 1
	Reserve  int     `yaml:"reserve"` // devices reserved for this run
}

// Duration is a YAML duration ("90s", "2m").
type Duration time.Duration

// UnmarshalText parses Go duration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (want e.g. 90s, 5m, 1h)", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText keeps durations readable in the stored spec.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// PerTestRetries is the per-test retry quota with its default.
func (r Retry) PerTestRetries() int {
	if r.PerTest == nil {
		return 2
	}
	return *r.PerTest
}

// UnshapedToo says whether tests also run without a network profile.
func (n Network) UnshapedToo() bool {
	if n.Unshaped == nil {
		return len(n.Profiles) == 0
	}
	return *n.Unshaped
}
