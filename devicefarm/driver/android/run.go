package android

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// ErrRunAborted: the instrumentation run ended before all tests ran (process crash, ANR,
// runner failure). Results already reported stand.
var ErrRunAborted = errors.New("instrumentation run aborted")

const defaultRunner = "androidx.test.runner.AndroidJUnitRunner"

// shellQuote quotes s for the device's /system/bin/sh.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/#,:=@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// instrumentCmd builds `am instrument -w -r [-e k v]... PKG/RUNNER`.
func instrumentCmd(req driver.RunRequest) (string, error) {
	if req.TestAppID == "" {
		return "", fmt.Errorf("android: run request for %s has no TestAppID (instrumentation package)", req.AppID)
	}
	runner := req.Runner
	if runner == "" {
		runner = defaultRunner
	}
	parts := []string{"am", "instrument", "-w", "-r"}
	keys := make([]string, 0, len(req.Args))
	for k := range req.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "class" && len(req.Tests) > 0 {
			continue
		}
		parts = append(parts, "-e", shellQuote(k), shellQuote(req.Args[k]))
	}
	if len(req.Tests) > 0 {
		sel := make([]string, len(req.Tests))
		for i, t := range req.Tests {
			sel[i] = t.Class
			if t.Method != "" {
				sel[i] += "#" + t.Method
			}
		}
		parts = append(parts, "-e", "class", shellQuote(strings.Join(sel, ",")))
	}
	parts = append(parts, shellQuote(req.TestAppID+"/"+runner))
	return strings.Join(parts, " "), nil
}

// RunTests runs instrumentation, streaming results to onResult as each test ends. A device
// that drops off mid-run returns an error wrapping driver.ErrDeviceGone; a crash or ANR
// returns ErrRunAborted after reporting the test that was running as an error.
func (d *Driver) RunTests(ctx context.Context, serial string, req driver.RunRequest, onResult func(driver.TestResult)) error {
	cmd, err := instrumentCmd(req)
	if err != nil {
		return err
	}
	f, err := d.features(ctx, serial)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut error
	var timer *time.Timer
	if req.TestTimeout > 0 {
		timer = time.AfterFunc(req.TestTimeout, func() {
			timedOut = fmt.Errorf("android %s: a test ran longer than %v", serial, req.TestTimeout)
			cancel()
		})
		defer timer.Stop()
	}
	// Results go to a worker so that fetching a test's logcat or a slow onResult never
	// stalls reading the stream: the adb server acknowledges the device's writes at once,
	// so a stalled reader would see statuses in bursts and measure wrong durations.
	var startsMu sync.Mutex
	starts := map[driver.TestCase]time.Time{}
	queue := make(chan driver.TestResult, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range queue {
			startsMu.Lock()
			t0, ok := starts[r.TestCase]
			startsMu.Unlock()
			if d.cfg.CaptureLogcat && ok {
				lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
				out, _ := d.Logs(lctx, serial, t0.Add(-logSlack))
				r.Logcat = testLog(out, r.TestCase, t0.Add(-logSlack), t0.Add(r.Duration+logSlack))
				lcancel()
			}
			if onResult != nil {
				onResult(r)
			}
		}
	}()
	p := newInstrParser(func(r driver.TestResult) { queue <- r })
	p.onStart = func(tc driver.TestCase) {
		startsMu.Lock()
		starts[tc] = time.Now()
		startsMu.Unlock()
		if timer != nil {
			timer.Reset(req.TestTimeout)
		}
	}
	var res ShellResult
	onOut := func(b []byte) { _, _ = p.Write(b) }
	if f["shell_v2"] {
		res, err = d.shellV2(runCtx, serial, cmd, onOut)
	} else {
		// No exit code needed: INSTRUMENTATION_CODE says whether the run completed.
		err = d.shellStream(runCtx, serial, cmd, onOut)
	}
	reason := "instrumentation output ended"
	if err != nil {
		reason = err.Error()
		if timedOut != nil {
			reason = timedOut.Error()
		}
	}
	sum := p.finish(reason)
	close(queue)
	<-done
	switch {
	case timedOut != nil:
		return fmt.Errorf("%v: %w", timedOut, ErrRunAborted)
	case err != nil:
		return err
	case sum.Error != "":
		return fmt.Errorf("android %s: instrumentation %s/%s failed: %s %s: %w", serial, req.TestAppID, req.Runner, sum.Error, strings.TrimSpace(string(res.Stderr)), ErrRunAborted)
	case sum.ShortMsg != "":
		return fmt.Errorf("android %s: instrumentation aborted after %d of %d tests: %s: %w", serial, sum.Reported, sum.NumTests, sum.ShortMsg, ErrRunAborted)
	case !sum.Completed:
		if d.gone(serial) {
			return fmt.Errorf("android %s: instrumentation output ended after %d tests: %w", serial, sum.Reported, driver.ErrDeviceGone)
		}
		return fmt.Errorf("android %s: instrumentation output ended after %d tests without a result: %w", serial, sum.Reported, ErrRunAborted)
	}
	return nil
}

// logSlack widens the fallback time window of a test's log: statuses reach the host a
// little after the device logs them, and clocks differ.
const logSlack = 2 * time.Second

// testLog cuts one test's lines out of logcat: from AndroidJUnitRunner's "TestRunner:
// started: m(C)" to its "finished: m(C)" (LogRunListener writes both on the device), else
// the lines stamped within [from, to].
func testLog(logcat string, tc driver.TestCase, from, to time.Time) string {
	lines := strings.Split(logcat, "\n")
	name := tc.Method + "(" + tc.Class + ")"
	start, end := -1, -1
	for i, l := range lines {
		if strings.Contains(l, "TestRunner: started: "+name) {
			start, end = i, -1
		} else if start >= 0 && end < 0 && strings.Contains(l, "TestRunner: finished: "+name) {
			end = i
		}
	}
	if start >= 0 && end >= start {
		return strings.Join(lines[start:end+1], "\n") + "\n"
	}
	return logWindow(logcat, from, to)
}

// logWindow keeps threadtime lines stamped within [from, to] (continuation lines follow
// their entry).
func logWindow(logcat string, from, to time.Time) string {
	var b strings.Builder
	keep := false
	year := from.UTC().Year()
	for _, l := range strings.Split(logcat, "\n") {
		if g := logLine.FindStringSubmatch(l); g != nil {
			t, err := time.Parse(logcatTime, g[1])
			if err == nil {
				t = time.Date(year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
				keep = !t.Before(from.UTC().Truncate(time.Millisecond)) && !t.After(to.UTC())
			}
		} else if strings.HasPrefix(l, "--------- ") {
			continue
		}
		if keep && l != "" {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// logcatTime is the -T format of logcat (device local time; devices in a farm run UTC).
const logcatTime = "01-02 15:04:05.000"

// Logs returns `logcat -d` lines since a time (all of the buffer when since is zero).
func (d *Driver) Logs(ctx context.Context, serial string, since time.Time) (string, error) {
	cmd := "logcat -d -v threadtime -b main,system,crash"
	if !since.IsZero() {
		cmd += " -T " + shellQuote(since.UTC().Format(logcatTime))
	}
	return d.run(ctx, serial, cmd)
}

var (
	logLine   = regexp.MustCompile(`^(\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\s+(\d+)\s+(\d+)\s+([VDIWEF])\s+(.+?)\s*: (.*)$`)
	exception = regexp.MustCompile(`^((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)?)(?::|$)`)
)

// Crashes finds app crashes (AndroidRuntime FATAL EXCEPTION) and ANRs (ActivityManager
// "ANR in") in the crash and system log buffers since a time.
func (d *Driver) Crashes(ctx context.Context, serial, appID string, since time.Time) ([]driver.Crash, error) {
	out, err := d.Logs(ctx, serial, since)
	if err != nil {
		return nil, err
	}
	osv, _ := d.run(ctx, serial, "getprop ro.build.version.release")
	found := parseCrashes(out, appID, strings.TrimSpace(osv))
	// DropBox keeps crash and ANR reports after the log buffers have rotated.
	db, err := d.run(ctx, serial, "dumpsys dropbox --print data_app_crash; dumpsys dropbox --print data_app_anr")
	if err != nil {
		return found, nil // older builds lack dropbox printing; logcat stands alone
	}
	for _, c := range parseDropbox(db, appID, strings.TrimSpace(osv), since) {
		dup := false
		for _, f := range found {
			if f.Kind == c.Kind && f.Process == c.Process && absDur(f.At.Sub(c.At)) < 5*time.Second {
				dup = true
				break
			}
		}
		if !dup {
			found = append(found, c)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].At.Before(found[j].At) })
	return found, nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

const dropboxSep = "========================================\n"

// parseDropbox reads `dumpsys dropbox --print` records of data_app_crash / data_app_anr.
func parseDropbox(out, appID, osVersion string, since time.Time) []driver.Crash {
	var res []driver.Crash
	for _, rec := range strings.Split(out, dropboxSep)[1:] {
		head, body, _ := strings.Cut(rec, "\n")
		f := strings.Fields(head)
		if len(f) < 3 {
			continue
		}
		at, err := time.Parse("2006-01-02 15:04:05", f[0]+" "+f[1])
		if err != nil || (!since.IsZero() && at.Before(since.UTC().Truncate(time.Second))) {
			continue
		}
		c := driver.Crash{OSVersion: osVersion, At: at, Text: strings.TrimRight(body, "\n")}
		switch f[2] {
		case "data_app_crash":
			c.Kind = "crash"
		case "data_app_anr":
			c.Kind = "anr"
		default:
			continue
		}
		for _, l := range strings.Split(body, "\n") {
			switch {
			case strings.HasPrefix(l, "Process: "):
				c.Process = strings.TrimPrefix(l, "Process: ")
			case strings.HasPrefix(l, "Subject: ") && c.Kind == "anr":
				c.Exception = "ANR: " + strings.TrimPrefix(l, "Subject: ")
			case c.Kind == "crash" && c.Exception == "":
				if g := exception.FindStringSubmatch(l); g != nil {
					c.Exception = g[1]
				}
			}
		}
		if appID != "" && c.Process != appID {
			continue
		}
		res = append(res, c)
	}
	return res
}

// parseCrashes groups consecutive log lines of one tag and pid into reports.
func parseCrashes(logcat, appID, osVersion string) []driver.Crash {
	type entry struct {
		at             time.Time
		pid, tag, text string
	}
	var entries []entry
	now := time.Now().UTC()
	for _, l := range strings.Split(logcat, "\n") {
		g := logLine.FindStringSubmatch(l)
		if g == nil {
			continue
		}
		t, _ := time.Parse(logcatTime, g[1])
		t = time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
		if n := len(entries); n > 0 && entries[n-1].tag == g[5] && entries[n-1].pid == g[2] && entries[n-1].at.Equal(t) {
			entries[n-1].text += "\n" + g[6]
			continue
		}
		entries = append(entries, entry{t, g[2], g[5], g[6]})
	}
	var out []driver.Crash
	for _, e := range entries {
		lines := strings.Split(e.text, "\n")
		var c driver.Crash
		switch {
		case e.tag == "AndroidRuntime" && strings.HasPrefix(lines[0], "FATAL EXCEPTION"):
			c.Kind = "crash"
			for _, l := range lines[1:] {
				if v, ok := strings.CutPrefix(l, "Process: "); ok {
					c.Process, _, _ = strings.Cut(v, ",")
				} else if g := exception.FindStringSubmatch(l); g != nil && c.Exception == "" {
					c.Exception = g[1]
				}
			}
		case e.tag == "ActivityManager" && strings.HasPrefix(lines[0], "ANR in "):
			c.Kind = "anr"
			proc := strings.TrimPrefix(lines[0], "ANR in ")
			c.Process, _, _ = strings.Cut(proc, " ")
			for _, l := range lines[1:] {
				if v, ok := strings.CutPrefix(l, "Reason: "); ok {
					c.Exception = "ANR: " + firstLine(v)
				}
			}
		default:
			continue
		}
		if appID != "" && c.Process != appID {
			continue
		}
		c.OSVersion, c.At, c.Text = osVersion, e.at, e.text
		out = append(out, c)
	}
	return out
}
