package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/farmrun"
	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux/ipa"
)

// The farm regressions the candidate carries.
const (
	// CrashModel/CrashAndroid: the candidate's checkout crashes on this model and Android
	// version only (the field traffic crashes on the same Android version).
	CrashModel   = "galaxy-a12"
	CrashAndroid = "10"
	// CrashIOS: the candidate crashes at first launch on this iOS version.
	CrashIOS = "17.6"
	// NetProfile is the lab network profile (SPEC §4) the network tests run under.
	NetProfile = "3g-average"
)

// stallTimeout ends a run that stopped making progress.
const stallTimeout = 90 * time.Second

// farmRun is one finished suite run.
type farmRun struct {
	platform, release string
	id                int64
	run               *results.Run
	compat            []results.CompatRow
	took              time.Duration
}

const androidSuite = `# The demo's Android compatibility suite (what QA would check in next to the app).
name: shop-compat-android
platform: android
devices:
  pools: [demo]
matrix: true              # every test on every (model, OS version) in the fleet
network:
  upstream: %s            # the app's backend, reached through the profile's toxiproxy
  profiles: [%s]
  unshaped: true          # every test also runs without a profile
  only:
    classes: [com.example.shop.NetworkTest]
timeouts: {test: 60s, run: 15m}
retry: {per_test: %d, infra: 3}
artifacts: {screenshots: failure}
baseline: %s
`

const iosSuite = `# The demo's iOS suite: install + launch-free smoke (no XCTest runner on the farm yet).
name: shop-smoke-ios
platform: ios
devices:
  pools: [demo]
matrix: true
tests:
  list: [ios.smoke#installed, ios.smoke#syslog_clean, ios.smoke#no_crash_reports]
app: {id: com.example.shop}      # an .ipa carries no test manifest: name the app
timeouts: {test: 60s, run: 10m}
retry: {per_test: 0, infra: 3}   # the smoke checks are deterministic: a retry would only hide a crash
artifacts: {screenshots: never}
baseline: %s
`

// androidTests is the test APK's test list for a release; the candidate's checkout crashes
// on one model and Android version.
func (d *run) androidTests(release string) []adbd.TestSpec {
	t := []adbd.TestSpec{
		{Class: "com.example.shop.LoginTest", Method: "loginWithEmail", DurationMS: 3000},
		{Class: "com.example.shop.LoginTest", Method: "logout", DurationMS: 1500},
		{Class: "com.example.shop.CatalogTest", Method: "browseFeed", DurationMS: 4000},
		{Class: "com.example.shop.CatalogTest", Method: "searchTypeahead", DurationMS: 2500},
		{Class: "com.example.shop.NetworkTest", Method: "feedLoadsOnSlowNetwork", DurationMS: 5000},
	}
	// The longest test: the planner (which knows durations from the baseline's run) gives it
	// a work item of its own, so the instrumentation run its crash aborts holds no other test.
	checkout := adbd.TestSpec{Class: "com.example.shop.CheckoutTest", Method: "payWithCard", DurationMS: 40000}
	if release == Candidate {
		checkout.Behaviours = []adbd.Behaviour{{When: adbd.Match{Models: []string{CrashModel}, OS: []string{CrashAndroid}},
			Outcome: adbd.OutcomeCrash, Exception: "java.lang.NullPointerException",
			Message: "Attempt to invoke virtual method 'int android.view.View.getWidth()' on a null object reference"}}
	}
	t = append(t, checkout)
	for i := range d.sc.tests {
		t = append(t, adbd.TestSpec{Class: "com.example.shop.CartTest", Method: fmt.Sprintf("cartCase%02d", i+1), DurationMS: 2000 + 500*(i%4)})
	}
	return t
}

// farm runs the Android and iOS suites for the baseline and then the candidate, as QA would
// for each release, and waits for each to finish.
func (d *run) farm(ctx context.Context) (string, error) {
	e := d.env
	dir := filepath.Join(d.cfg.WorkDir, "farm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	d.p.note("seeded in %s: CheckoutTest.payWithCard crashes on %s / Android %s; the app crashes at first launch on iOS %s",
		Candidate, modelName(CrashModel), CrashAndroid, CrashIOS)
	for _, rel := range []string{Baseline, Candidate} {
		if rel == Candidate && e.usb != nil {
			// The candidate crashes at first launch on one iOS version: the simulated phones
			// on it leave a crash report for the app once it is installed.
			n := 0
			for _, dev := range e.usb.Devices() {
				if dev.Instance().OSVersion == CrashIOS {
					f := dev.Faults()
					f.CrashAfterInstall, f.CrashApp = true, AppID
					dev.SetFaults(f)
					n++
				}
			}
			if n == 0 {
				d.p.note("no simulated iPhone runs iOS %s at this scale: the iOS crash is not seeded", CrashIOS)
			}
		}
		// iOS first, then Android: the gate judges the release's latest finished farm run
		// (internal/gate loadCompat), and the Android suite is the one with the model/OS
		// matrix and the network profile.
		if e.usb != nil {
			r, err := d.iosRun(ctx, dir, rel)
			if err != nil {
				return "", err
			}
			e.runs = append(e.runs, *r)
		}
		r, err := d.androidRun(ctx, dir, rel)
		if err != nil {
			return "", err
		}
		e.runs = append(e.runs, *r)
	}
	var parts []string
	tests, attempts := 0, 0
	for _, r := range e.runs {
		c := r.run.Count()
		tests += c.Total
		attempts += c.Attempts
	}
	for _, r := range e.runs {
		c := r.run.Count()
		parts = append(parts, fmt.Sprintf("%s %s: %d/%d passed", r.platform, r.release, c.Passed+c.Flaky, c.Total))
	}
	return fmt.Sprintf("%d runs, %d tests, %d attempts; %s", len(e.runs), tests, attempts, strings.Join(parts, ", ")), nil
}

func (d *run) androidRun(ctx context.Context, dir, rel string) (*farmRun, error) {
	e := d.env
	appPath := filepath.Join(dir, "shop-"+rel+".apk")
	testPath := filepath.Join(dir, "shop-"+rel+"-test.apk")
	var b bytes.Buffer
	code := 220
	if rel == Candidate {
		code = 230
	}
	if err := adbd.BuildAPK(&b, adbd.Manifest{Package: AppID, VersionName: rel, VersionCode: code, MinSDK: 28}, 256<<10); err != nil {
		return nil, err
	}
	if err := os.WriteFile(appPath, b.Bytes(), 0o644); err != nil {
		return nil, err
	}
	b.Reset()
	if err := adbd.BuildAPK(&b, adbd.Manifest{Package: AppID + ".test", VersionName: rel, Instrumentation: &adbd.Instrumentation{
		TargetPackage: AppID, Tests: d.androidTests(rel)}}, 64<<10); err != nil {
		return nil, err
	}
	if err := os.WriteFile(testPath, b.Bytes(), 0o644); err != nil {
		return nil, err
	}
	suitePath := filepath.Join(dir, "shop-compat-android.yaml")
	// A retry runs on another device of the same (model, OS) group; a quick fleet has one
	// device per group, so it runs no retries (the flaky test then shows as failed there).
	retries := 2
	if d.cfg.Quick {
		retries = 0
	}
	src := fmt.Sprintf(androidSuite, e.col.HTTPAddr(), NetProfile, retries, Baseline)
	if err := os.WriteFile(suitePath, []byte(src), 0o644); err != nil {
		return nil, err
	}
	return d.submit(ctx, "android", suitePath, appPath, testPath, rel)
}

func (d *run) iosRun(ctx context.Context, dir, rel string) (*farmRun, error) {
	appPath := filepath.Join(dir, "Shop-"+rel+".ipa")
	if err := ipa.Write(appPath, ipa.Spec{BundleID: AppID, Name: "Shop", Version: rel, Build: strings.ReplaceAll(rel, ".", ""), MinOS: "15.0"}); err != nil {
		return nil, err
	}
	suitePath := filepath.Join(dir, "shop-smoke-ios.yaml")
	if err := os.WriteFile(suitePath, []byte(fmt.Sprintf(iosSuite, Baseline)), 0o644); err != nil {
		return nil, err
	}
	return d.submit(ctx, "ios", suitePath, appPath, "", rel)
}

// submit enqueues a suite run exactly as `fleetlens farm run` builds it (farmrun.Prepare),
// on the demo hosts' devices, and follows it to the end.
func (d *run) submit(ctx context.Context, platform, suitePath, appPath, testPath, rel string) (*farmRun, error) {
	e := d.env
	start := time.Now()
	spec, err := farmrun.Prepare(ctx, e.pool, farmrun.Options{SuitePath: suitePath, AppPath: appPath, TestAppPath: testPath, Release: rel,
		// Only the demo hosts' phones: not other hosts', nor an earlier demo's gone offline.
		Fleet: func(dv results.DeviceRow) bool {
			return (dv.Host == HostA || dv.Host == HostB) && dv.State != "offline"
		}})
	if err != nil {
		return nil, err
	}
	if rel == Baseline {
		spec.Baseline = ""
	}
	enq, err := schedule.Enqueue(ctx, e.pool, spec)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s %s: %w", spec.SuiteName, rel, err)
	}
	d.p.note("run %d: %s %s queued: %d tests in %d work items on %d devices", enq.RunID, spec.SuiteName, rel, enq.Tests, enq.Items, len(spec.Devices))
	var p results.Progress
	lastNote, lastMove, lastDone := time.Now(), time.Now(), -1
	for {
		p, err = results.LoadProgress(ctx, e.pool, enq.RunID)
		if err == nil && p.Finished() {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if p.Done != lastDone {
			lastDone, lastMove = p.Done, time.Now()
		}
		// A run that stops moving is a broken demo, not a slow one: say so instead of hanging.
		if time.Since(lastMove) > stallTimeout {
			return nil, fmt.Errorf("run %d (%s %s) made no progress for %v: %d/%d done, %d devices busy (see fleetlens farm show %d)",
				enq.RunID, spec.SuiteName, rel, stallTimeout, p.Done, p.Total, p.DevicesBusy, enq.RunID)
		}
		if time.Since(lastNote) >= 15*time.Second {
			d.p.note("run %d: %d/%d done, %d devices busy", enq.RunID, p.Done, p.Total, p.DevicesBusy)
			lastNote = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	r, err := results.LoadRun(ctx, e.pool, enq.RunID)
	if err != nil {
		return nil, err
	}
	compat, err := results.Compat(ctx, e.pool, enq.RunID, spec.Baseline)
	if err != nil {
		return nil, err
	}
	c := r.Count()
	took := time.Since(start)
	d.p.note("run %d: %s %s %s in %.1fs: %d passed, %d failed, %d flaky, %d errors (%d attempts)", enq.RunID, spec.SuiteName, rel, r.State,
		took.Seconds(), c.Passed, c.Failed, c.Flaky, c.Errored, c.Attempts)
	return &farmRun{platform: platform, release: rel, id: enq.RunID, run: r, compat: compat, took: took}, nil
}

// modelName turns a catalog id into what reports show ("Galaxy A12 (SM-A125F)").
func modelName(id string) string {
	m, ok := catalog.Lookup(id)
	if !ok {
		return id
	}
	if m.ModelCode != "" && m.ModelCode != m.Name {
		return m.Name + " (" + m.ModelCode + ")"
	}
	return m.Name
}
