// Package farmrun owns what a suite run means before it is queued: a suite file and the app
// binaries turned into a schedule.RunSpec. It decides which names win (the suite's, then the
// APK manifests'), which tests run (the suite's filters over the test APK's list), which
// devices of the fleet the suite selects, and how the suite's profiles, timeouts, retries,
// preventive copies and sharing map onto the run. Every way of starting a run (`fleetlens
// farm run`, the TUI, the demo) goes through it, so a run is the same whoever started it;
// queueing it is schedule.Enqueue's job.
package farmrun

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/netprofile"
	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/suite"
)

// Options names the files and release of a run.
type Options struct {
	SuitePath   string
	AppPath     string // app under test (APK/IPA); "" ships none (the suite's app.id must name it)
	TestAppPath string // instrumentation test APK; "" runs the suite's tests.list
	Release     string // required
	Baseline    string // release for "new failures"; "" is the suite's baseline
	// Profile, when set, replaces the suite's network profiles: every selected test runs
	// under this one profile only (the suite must name a network.upstream to shape).
	Profile string
	// StartedFrom is recorded in the run's config as "started_from" (e.g. "tui") when set.
	StartedFrom string
	// Fleet, when set, keeps only the devices it accepts as candidates for the suite's
	// selection (e.g. the devices of some hosts). Nil means the whole fleet.
	Fleet func(results.DeviceRow) bool
}

// Loaded is a suite with its binaries read and its tests selected: everything a run needs
// that does not come from the database. Resolve adds the devices.
type Loaded struct {
	opts                  Options
	suite                 *suite.Suite
	source                []byte
	app, testApp          *schedule.Blob
	appID, testID, runner string
	tests                 []suite.TestCase
}

// Prepare is Load then Resolve: the run spec for o on the fleet q knows, ready for
// schedule.Enqueue. Suite validation errors come back as suite.Errors (errors.As).
func Prepare(ctx context.Context, q results.Querier, o Options) (schedule.RunSpec, error) {
	l, err := Load(o)
	if err != nil {
		return schedule.RunSpec{}, err
	}
	return l.Resolve(ctx, q)
}

// Load parses and validates the suite, reads the app binaries and selects the tests, without
// touching the database, so file errors are reported before any connection is made.
func Load(o Options) (*Loaded, error) {
	if o.Release == "" {
		return nil, fmt.Errorf("%s: release: required (the version under test)", o.SuitePath)
	}
	s, source, err := suite.Load(o.SuitePath)
	if err != nil {
		return nil, err
	}
	l := &Loaded{opts: o, suite: s, source: source}
	var appInfo, testInfo suite.APKInfo
	if o.AppPath != "" {
		if l.app, appInfo, err = readApp(o.AppPath); err != nil {
			return nil, err
		}
	}
	if o.TestAppPath != "" {
		if l.testApp, testInfo, err = readApp(o.TestAppPath); err != nil {
			return nil, err
		}
	}
	// The suite's names win: a manifest can be wrong about what QA means to test.
	l.appID = cmp.Or(s.App.ID, appInfo.Package, testInfo.TargetPackage)
	if l.appID == "" {
		return nil, fmt.Errorf("%s: app.id: the app's package name is needed (the APK does not say)", o.SuitePath)
	}
	l.testID = cmp.Or(s.App.TestID, testInfo.Package)
	if o.TestAppPath != "" && l.testID == "" {
		return nil, fmt.Errorf("%s: app.test_id: the test package name is needed (the test APK does not say)", o.SuitePath)
	}
	l.runner = cmp.Or(s.App.Runner, testInfo.Runner)
	if l.tests = s.SelectTests(testInfo.Tests); len(l.tests) == 0 {
		return nil, fmt.Errorf("%s: tests: no test selected (the test app lists %d; check tests.include/exclude or tests.list)",
			o.SuitePath, len(testInfo.Tests))
	}
	if p := o.Profile; p != "" {
		if _, ok := netprofile.Lookup(p); !ok {
			return nil, fmt.Errorf("profile %q: unknown network profile (known: %s)", p, strings.Join(netprofile.Names(), ", "))
		}
		if s.Network.Upstream == "" {
			return nil, fmt.Errorf("profile %q: %s has no network.upstream to shape", p, o.SuitePath)
		}
	}
	return l, nil
}

// Resolve selects the suite's devices from the fleet as the agents last reported it (q is
// read once) and returns the complete run spec.
func (l *Loaded) Resolve(ctx context.Context, q results.Querier) (schedule.RunSpec, error) {
	o, s := l.opts, l.suite
	devs, err := results.ListDevices(ctx, q)
	if err != nil {
		return schedule.RunSpec{}, err
	}
	cands := make([]suite.Device, 0, len(devs))
	for _, d := range devs {
		if o.Fleet != nil && !o.Fleet(d) {
			continue
		}
		cands = append(cands, suite.Device{Serial: d.Serial, Platform: d.Platform, Manufacturer: d.Manufacturer, Model: d.Model,
			OSVersion: d.OSVersion, Tier: d.Tier, State: d.State, APILevel: d.APILevel, Labels: d.Labels})
	}
	sel := s.Select(cands)
	if len(sel) == 0 {
		return schedule.RunSpec{}, fmt.Errorf("%s: devices: the selection matches none of the %d known devices; nothing was queued (see 'fleetlens farm devices')",
			o.SuitePath, len(cands))
	}
	spec := schedule.RunSpec{SuiteName: s.Name, SuitePath: o.SuitePath, SuiteSource: string(l.source), SuiteSpec: s,
		AppID: l.appID, Release: o.Release, Baseline: cmp.Or(o.Baseline, s.Baseline), Platform: s.Platform,
		App: l.app, TestApp: l.testApp, TestAppID: l.testID, Runner: l.runner,
		Matrix: s.Matrix, TestTimeout: time.Duration(s.Timeouts.Test), RunTimeout: time.Duration(s.Timeouts.Run),
		MaxRetries: s.Retry.PerTestRetries(), RetryBudget: s.Retry.PerRun, InfraMax: s.Retry.Infra,
		Preventive: schedule.Preventive{Target: s.Retry.Preventive.Target, MaxCopies: max(s.Retry.Preventive.MaxCopies, 3)},
		Priority:   s.Sharing.Priority, Weight: s.Sharing.Weight, Reserve: s.Sharing.Reserve,
		// The agents read these keys (network shaping target, artifacts to keep).
		Config: map[string]any{"upstream": s.Network.Upstream, "screenshots": s.Artifacts.Screenshots,
			"logs": s.Artifacts.Logs, "crashes": s.Artifacts.Crashes}}
	if o.StartedFrom != "" {
		spec.Config["started_from"] = o.StartedFrom
	}
	for _, d := range sel {
		spec.Devices = append(spec.Devices, schedule.DeviceRef{Serial: d.Serial, Group: d.GroupKey()})
	}
	only := map[schedule.TestKey]bool{}
	for _, t := range l.tests {
		k := schedule.TestKey{Class: t.Class, Method: t.Method}
		spec.Tests = append(spec.Tests, k)
		if s.Profiled(t) {
			only[k] = true
		}
	}
	if o.Profile != "" {
		spec.Profiles = []string{o.Profile}
		return spec, nil
	}
	if s.Network.UnshapedToo() {
		spec.Profiles = append(spec.Profiles, "")
	}
	spec.Profiles = append(spec.Profiles, s.Network.Profiles...)
	spec.Profiled = only
	return spec, nil
}

// readApp reads a binary to ship to the agents and, for an APK, its manifest.
func readApp(path string) (*schedule.Blob, suite.APKInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, suite.APKInfo{}, fmt.Errorf("read app: %w", err)
	}
	var info suite.APKInfo
	if strings.HasSuffix(strings.ToLower(path), ".apk") {
		if info, err = suite.ReadAPK(path); err != nil {
			return nil, info, err
		}
	}
	return &schedule.Blob{Name: filepath.Base(path), Data: data}, info, nil
}
