package adbd

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

const defaultRunner = "androidx.test.runner.AndroidJUnitRunner"

// am implements the `am` commands a farm uses: instrument, force-stop, start.
func (d *Device) am(ctx context.Context, args []string, out, errw io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(errw, "usage: am [instrument|force-stop|start] ...")
		return 1
	}
	switch args[0] {
	case "instrument":
		return d.instrument(ctx, args[1:], out, errw)
	case "force-stop", "kill":
		return 0
	case "start", "start-activity":
		fmt.Fprintf(out, "Starting: Intent { %s }\n", strings.Join(args[1:], " "))
		return 0
	}
	fmt.Fprintf(errw, "Error: Unknown command: %s\n", args[0])
	return 1
}

type plannedTest struct {
	TestSpec
	outcome   Behaviour
	duration  time.Duration
	classHead bool
}

// instrument implements `am instrument [-w] [-r] [-e KEY VALUE]... PKG/RUNNER` producing
// the raw status format of AndroidJUnitRunner's InstrumentationResultPrinter.
func (d *Device) instrument(ctx context.Context, args []string, out, errw io.Writer) int {
	extras := map[string]string{}
	raw, human, crashed, inResult := false, false, false, false
	comp := ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-e" && i+2 < len(args):
			extras[args[i+1]] = args[i+2]
			i += 2
		case a == "--user" || a == "-p" || a == "--abi":
			i++
		case a == "-r":
			raw = true
		case strings.HasPrefix(a, "-"):
		default:
			comp = a
		}
	}
	pkgName, runner, _ := strings.Cut(comp, "/")
	// am prints each status bundle in one go; write them as one chunk each, like adbd
	// relaying a pipe, instead of a WRTE per line.
	bw := bufio.NewWriterSize(out, 16<<10)
	defer bw.Flush()
	w := func(format string, a ...any) {
		line := fmt.Sprintf(format, a...)
		if human {
			// Without -r, am prints only the stream texts (and a failure's result/code).
			switch {
			case strings.HasPrefix(line, "INSTRUMENTATION_STATUS: stream="):
				line = strings.TrimSuffix(strings.TrimPrefix(line, "INSTRUMENTATION_STATUS: stream="), "\n")
			case strings.HasPrefix(line, "INSTRUMENTATION_RESULT: stream="):
				line = strings.TrimPrefix(line, "INSTRUMENTATION_RESULT: stream=")
				inResult = true
			case inResult && !strings.HasPrefix(line, "INSTRUMENTATION_"):
			case strings.HasPrefix(line, "INSTRUMENTATION_RESULT: shortMsg="):
				crashed = true
				line = "\n" + line
			case strings.HasPrefix(line, "INSTRUMENTATION_CODE") && crashed:
			default:
				line = ""
			}
		}
		_, _ = bw.WriteString(line)
		if strings.HasPrefix(format, "INSTRUMENTATION_STATUS_CODE") {
			_ = bw.Flush()
		}
	}
	d.mu.Lock()
	p := d.packages[pkgName]
	var m *Manifest
	if f := d.files["/data/local/tmp/"+pkgName+SidecarSuffix]; f != nil && f.manifest != nil {
		m = f.manifest
	} else if p != nil {
		m = p.manifest
	}
	var target *pkg
	if m != nil && m.Instrumentation != nil {
		target = d.packages[m.Instrumentation.TargetPackage]
	}
	dropAfter := d.dropAfter
	d.instrRuns++
	d.mu.Unlock()
	if p == nil || m == nil || m.Instrumentation == nil || (runner != "" && runner != runnerOf(m)) || target == nil {
		w("INSTRUMENTATION_STATUS: id=ActivityManagerService\n")
		w("INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo{%s}\n", comp)
		w("INSTRUMENTATION_STATUS_CODE: -1\n")
		fmt.Fprintf(errw, "android.util.AndroidException: INSTRUMENTATION_FAILED: %s\n", comp)
		return 1
	}
	human = !raw
	tests := d.plan(m, extras)
	d.logf("main", 'I', "ActivityManager", "Start proc %d:%s/u0a%d for added application %s", d.pid, target.name, 200+d.inst.Index%100, target.name)
	if extras["log"] == "true" {
		for i := range tests {
			tests[i].outcome = Behaviour{Outcome: OutcomePass}
			tests[i].duration = 0
		}
	}
	var failures []string
	start := time.Now()
	status := func(t plannedTest, n int, extra ...string) {
		w("INSTRUMENTATION_STATUS: class=%s\n", t.Class)
		w("INSTRUMENTATION_STATUS: current=%d\n", n)
		w("INSTRUMENTATION_STATUS: id=AndroidJUnitRunner\n")
		w("INSTRUMENTATION_STATUS: numtests=%d\n", len(tests))
		for _, e := range extra {
			w("%s\n", e)
		}
	}
	for i, t := range tests {
		n := i + 1
		stream := ""
		if t.classHead {
			stream = "\n" + t.Class + ":"
		}
		status(t, n, "INSTRUMENTATION_STATUS: stream="+stream, "INSTRUMENTATION_STATUS: test="+t.Method)
		w("INSTRUMENTATION_STATUS_CODE: 1\n")
		d.logf("main", 'I', "TestRunner", "started: %s(%s)", t.Method, t.Class)
		if dropAfter > 0 && i == dropAfter || t.outcome.Outcome == OutcomeDrop {
			_ = d.sleep(ctx, t.duration/2)
			d.log.Info("adbd: dropping off the bus mid-run", "test", t.Class+"#"+t.Method)
			d.mu.Lock()
			d.dropAfter = 0
			d.mu.Unlock()
			go d.Detach()
			<-ctx.Done()
			return 137
		}
		if err := d.sleep(ctx, t.duration); err != nil {
			return 130
		}
		switch t.outcome.Outcome {
		case OutcomeCrash, OutcomeANR:
			d.crashApp(t, target.name)
			if t.outcome.Outcome == OutcomeCrash {
				stack := crashStack(t, target.name)
				status(t, n, "INSTRUMENTATION_STATUS: stack="+stack, "INSTRUMENTATION_STATUS: stream=\nProcess crashed while executing "+t.Method+"("+t.Class+"):\n"+stack, "INSTRUMENTATION_STATUS: test="+t.Method)
				w("INSTRUMENTATION_STATUS_CODE: -2\n")
			}
			w("INSTRUMENTATION_RESULT: shortMsg=Process crashed.\n")
			w("INSTRUMENTATION_CODE: 0\n")
			return 0
		case OutcomeFail, OutcomeError, OutcomeAssumption:
			stack := failStack(t)
			code := map[string]int{OutcomeFail: -2, OutcomeError: -1, OutcomeAssumption: -4}[t.outcome.Outcome]
			if code != -4 {
				failures = append(failures, fmt.Sprintf("%d) %s(%s)\n%s", len(failures)+1, t.Method, t.Class, stack))
				d.logf("main", 'E', "TestRunner", "failed: %s(%s)", t.Method, t.Class)
			}
			d.logf("main", 'I', "TestRunner", "finished: %s(%s)", t.Method, t.Class)
			status(t, n, "INSTRUMENTATION_STATUS: stack="+stack, "INSTRUMENTATION_STATUS: stream=\nError in "+t.Method+"("+t.Class+"):\n"+stack, "INSTRUMENTATION_STATUS: test="+t.Method)
			w("INSTRUMENTATION_STATUS_CODE: %d\n", code)
		case OutcomeIgnored:
			d.logf("main", 'I', "TestRunner", "finished: %s(%s)", t.Method, t.Class)
			status(t, n, "INSTRUMENTATION_STATUS: stream=", "INSTRUMENTATION_STATUS: test="+t.Method)
			w("INSTRUMENTATION_STATUS_CODE: -3\n")
		default:
			d.logf("main", 'I', "TestRunner", "finished: %s(%s)", t.Method, t.Class)
			status(t, n, "INSTRUMENTATION_STATUS: stream=.", "INSTRUMENTATION_STATUS: test="+t.Method)
			w("INSTRUMENTATION_STATUS_CODE: 0\n")
		}
	}
	elapsed := time.Since(start).Seconds() / max(d.fleet.cfg.TimeScale, 1e-9)
	w("INSTRUMENTATION_RESULT: stream=\n\nTime: %.3f\n", elapsed)
	if len(failures) == 0 {
		w("\nOK (%d test%s)\n\n\n", len(tests), plural(len(tests)))
	} else {
		w("There %s %d failure%s:\n%s\nFAILURES!!!\nTests run: %d,  Failures: %d\n\n\n",
			map[bool]string{true: "was", false: "were"}[len(failures) == 1], len(failures), plural(len(failures)),
			strings.Join(failures, "\n"), len(tests), len(failures))
	}
	w("INSTRUMENTATION_CODE: -1\n")
	return 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func runnerOf(m *Manifest) string {
	if m.Instrumentation.Runner != "" {
		return m.Instrumentation.Runner
	}
	return defaultRunner
}

// plan selects tests (-e class, -e notClass, -e numShards/shardIndex) in class order and
// decides each outcome for this device and attempt.
func (d *Device) plan(m *Manifest, extras map[string]string) []plannedTest {
	specs := append([]TestSpec(nil), m.Instrumentation.Tests...)
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].Class < specs[j].Class })
	want := func(list string, t TestSpec) bool {
		for _, f := range strings.Split(list, ",") {
			c, meth, hasM := strings.Cut(f, "#")
			if c == t.Class && (!hasM || meth == t.Method) {
				return true
			}
		}
		return false
	}
	var sel []TestSpec
	for _, t := range specs {
		if v := extras["class"]; v != "" && !want(v, t) {
			continue
		}
		if v := extras["notClass"]; v != "" && want(v, t) {
			continue
		}
		sel = append(sel, t)
	}
	var shards, idx int
	if _, err := fmt.Sscanf(extras["numShards"], "%d", &shards); err == nil && shards > 1 {
		fmt.Sscanf(extras["shardIndex"], "%d", &idx)
		var keep []TestSpec
		for i, t := range sel {
			if i%shards == idx {
				keep = append(keep, t)
			}
		}
		sel = keep
	}
	out := make([]plannedTest, 0, len(sel))
	prevClass := ""
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range sel {
		key := t.Class + "#" + t.Method
		d.attempts[key]++
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%s/%d", d.inst.Serial, key, d.attempts[key])
		rng := rand.New(rand.NewPCG(h.Sum64(), 7))
		b := Behaviour{Outcome: OutcomePass}
		for _, cand := range t.Behaviours {
			if cand.When.matches(d) {
				b = cand
				break
			}
		}
		if b.Outcome == OutcomeFlaky {
			p := b.Probability
			if p == 0 {
				p = 0.3
			}
			if rng.Float64() < p {
				b.Outcome = OutcomeFail
			} else {
				b.Outcome = OutcomePass
			}
		}
		ms := t.DurationMS
		if b.DurationMS > 0 {
			ms = b.DurationMS
		}
		if ms == 0 {
			ms = 800
		}
		// ±20 % jitter, and weak devices are slower (scaled by fastest-core clock).
		f := 0.8 + 0.4*rng.Float64()
		f *= 2800 / float64(max(d.inst.Model.CPUMaxMHz, 1000))
		out = append(out, plannedTest{TestSpec: t, outcome: b, duration: time.Duration(float64(ms)*f) * time.Millisecond, classHead: t.Class != prevClass})
		prevClass = t.Class
	}
	return out
}

func failStack(t plannedTest) string {
	b := t.outcome
	file := t.Class[strings.LastIndexByte(t.Class, '.')+1:] + ".java"
	line := 20 + len(t.Method)*3
	switch b.Outcome {
	case OutcomeAssumption:
		msg := b.Message
		if msg == "" {
			msg = "got: <false>, expected: is <true>"
		}
		return fmt.Sprintf("org.junit.AssumptionViolatedException: %s\n\tat org.junit.Assume.assumeTrue(Assume.java:68)\n\tat %s.%s(%s:%d)\n", msg, t.Class, t.Method, file, line)
	case OutcomeError:
		exc := b.Exception
		if exc == "" {
			exc = "java.lang.IllegalStateException"
		}
		return fmt.Sprintf("%s: %s\n\tat %s.%s(%s:%d)\n\tat java.lang.reflect.Method.invoke(Native Method)\n\tat org.junit.runners.model.FrameworkMethod$1.runReflectiveCall(FrameworkMethod.java:59)\n", exc, b.Message, t.Class, t.Method, file, line)
	}
	msg := b.Message
	if msg == "" {
		msg = "expected:<200> but was:<500>"
	}
	return fmt.Sprintf("java.lang.AssertionError: %s\n\tat org.junit.Assert.fail(Assert.java:89)\n\tat org.junit.Assert.failNotEquals(Assert.java:835)\n\tat org.junit.Assert.assertEquals(Assert.java:120)\n\tat %s.%s(%s:%d)\n\tat java.lang.reflect.Method.invoke(Native Method)\n\tat org.junit.runners.model.FrameworkMethod$1.runReflectiveCall(FrameworkMethod.java:59)\n", msg, t.Class, t.Method, file, line)
}

func crashStack(t plannedTest, app string) string {
	exc := t.outcome.Exception
	if exc == "" {
		exc = "java.lang.NullPointerException"
	}
	msg := t.outcome.Message
	if msg == "" {
		msg = "Attempt to invoke virtual method 'int java.lang.String.length()' on a null object reference"
	}
	return fmt.Sprintf("%s: %s\n\tat %s.ui.MainActivity.onResume(MainActivity.kt:42)\n\tat android.app.Activity.performResume(Activity.java:8135)\n\tat android.app.ActivityThread.performResumeActivity(ActivityThread.java:4430)\n", exc, msg, app)
}

// crashApp writes what the system logs when the app under test crashes or stops responding.
func (d *Device) crashApp(t plannedTest, app string) {
	d.mu.Lock()
	pk := d.packages[app]
	ver := ""
	if pk != nil {
		ver = fmt.Sprintf(" v%d (%s)", pk.versionCode, pk.version)
	}
	head := fmt.Sprintf("Process: %s\nPID: %d\nFlags: 0x38c83e44\nPackage: %s%s\nForeground: Yes\nBuild: %s\n", app, d.pid, app, ver, d.props["ro.build.fingerprint"])
	if t.outcome.Outcome == OutcomeANR {
		d.dropbox = append(d.dropbox, dropboxEntry{time.Now(), "data_app_anr", head + "Subject: Input dispatching timed out (Waiting to send non-key event because the touched window has not finished processing certain input events that were delivered to it over 500.0ms ago.)\n\n\"main\" prio=5 tid=1 Blocked\n  at " + app + ".ui.FeedAdapter.onBind(FeedAdapter.kt:88)\n"})
	} else {
		d.dropbox = append(d.dropbox, dropboxEntry{time.Now(), "data_app_crash", head + "\n" + crashStack(t, app)})
	}
	if len(d.dropbox) > 100 {
		d.dropbox = d.dropbox[len(d.dropbox)-100:]
	}
	d.mu.Unlock()
	if t.outcome.Outcome == OutcomeANR {
		d.logf("system", 'E', "ActivityManager", "ANR in %s (%s/.ui.MainActivity)\nPID: %d\nReason: Input dispatching timed out (Waiting to send non-key event because the touched window has not finished processing certain input events that were delivered to it over 500.0ms ago.)\nLoad: 3.42 / 2.91 / 2.10", app, app, d.pid)
		d.logf("events", 'I', "am_anr", "[0,%d,%s,952745540,Input dispatching timed out]", d.pid, app)
		return
	}
	d.logf("crash", 'E', "AndroidRuntime", "FATAL EXCEPTION: main\nProcess: %s, PID: %d\n%s", app, d.pid, strings.TrimRight(crashStack(t, app), "\n"))
	d.logf("events", 'I', "am_crash", "[%d,0,%s,952745540,%s]", d.pid, app, t.outcome.Exception)
}
