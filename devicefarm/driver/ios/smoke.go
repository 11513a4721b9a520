package ios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// SmokeClass is the TestCase.Class of the launch-free smoke check's results.
const SmokeClass = "ios.smoke"

// RunTests runs XCTest through the configured TestRunner when the request names a test bundle
// or XCTest cases; otherwise it runs the launch-free smoke check that is the iOS compatibility
// verdict until XCTest lands: the app is installed, the syslog since the install window holds
// no errors or termination of the app, and no new crash report of it exists.
//
// The window starts at Args["since"] (RFC 3339) if given, else SmokeWindow ago.
func (d *Driver) RunTests(ctx context.Context, serial string, req driver.RunRequest, onResult func(driver.TestResult)) error {
	if req.AppID == "" {
		return errors.New("ios: run tests: empty AppID")
	}
	if onResult == nil {
		onResult = func(driver.TestResult) {}
	}
	if req.TestAppID != "" || hasXCTestCases(req.Tests) {
		if d.cfg.XCTest == nil {
			return fmt.Errorf("ios: run tests on %s: XCTest (testmanagerd/DTX) is not available yet; run the smoke check with no TestAppID: %w", serial, errors.ErrUnsupported)
		}
		return d.cfg.XCTest.RunXCTest(ctx, serial, req, onResult)
	}
	since := time.Now().Add(-d.cfg.SmokeWindow)
	if s, ok := req.Args["since"]; ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return fmt.Errorf("ios: run tests: Args[since] %q: %w", s, err)
		}
		since = t
	}
	for _, step := range []struct {
		method string
		check  func(context.Context) (driver.TestStatus, string, string, error)
	}{
		{"installed", func(ctx context.Context) (driver.TestStatus, string, string, error) {
			apps, err := d.installedApps(ctx, serial)
			if err != nil {
				return "", "", "", err
			}
			if _, ok := apps[req.AppID]; !ok {
				return driver.TestFailed, req.AppID + " is not installed", "", nil
			}
			return driver.TestPassed, "", "", nil
		}},
		{"syslog_clean", func(ctx context.Context) (driver.TestStatus, string, string, error) {
			apps, err := d.installedApps(ctx, serial)
			if err != nil {
				return "", "", "", err
			}
			exe := apps[req.AppID].CFBundleExecutable()
			logs, err := d.Logs(ctx, serial, since)
			if err != nil {
				return "", "", "", err
			}
			if bad := badLines(logs, req.AppID, exe); len(bad) > 0 {
				return driver.TestFailed, bad[0], strings.Join(bad, "\n"), nil
			}
			return driver.TestPassed, "", "", nil
		}},
		{"no_crash_reports", func(ctx context.Context) (driver.TestStatus, string, string, error) {
			crashes, err := d.Crashes(ctx, serial, req.AppID, since)
			if err != nil {
				return "", "", "", err
			}
			if len(crashes) > 0 {
				c := crashes[0]
				return driver.TestError, fmt.Sprintf("%s crashed: %s on iOS %s", c.Process, c.Exception, c.OSVersion), c.Text, nil
			}
			return driver.TestPassed, "", "", nil
		}},
	} {
		start := time.Now()
		status, msg, stack, err := step.check(ctx)
		if err != nil {
			return fmt.Errorf("ios: smoke %s of %s on %s: %w", step.method, req.AppID, serial, err)
		}
		onResult(driver.TestResult{TestCase: driver.TestCase{Class: SmokeClass, Method: step.method}, Status: status, Duration: time.Since(start), Message: msg, Stack: stack})
	}
	return nil
}

func hasXCTestCases(tcs []driver.TestCase) bool {
	for _, tc := range tcs {
		if tc.Class != SmokeClass {
			return true
		}
	}
	return false
}

// badLines are syslog lines in which the app logged at error level or above, or the system
// reports it terminated or crashing.
func badLines(logs, bundleID, exe string) []string {
	var bad []string
	for _, l := range strings.Split(logs, "\n") {
		fromApp := exe != "" && strings.Contains(l, " "+exe+"[")
		severe := strings.Contains(l, "<Error>:") || strings.Contains(l, "<Fault>:") || strings.Contains(l, "<Critical>:")
		aboutApp := strings.Contains(l, bundleID) || (exe != "" && strings.Contains(l, "] "+exe)) || (exe != "" && strings.Contains(l, " "+exe+"\n"))
		system := strings.Contains(l, "ReportCrash[") || strings.Contains(l, "Terminating app") || strings.Contains(l, "corpse[")
		if (fromApp && severe) || (system && (aboutApp || strings.HasSuffix(l, " "+exe))) {
			bad = append(bad, l)
		}
	}
	return bad
}
