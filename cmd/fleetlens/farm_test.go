package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

// background starts the binary as a long-running process (sim, agent) and stops it with
// SIGTERM when the test ends, as a user's Ctrl-C would.
func background(t *testing.T, env []string, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return out
}

func farmCLI(t *testing.T, env []string, dir string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("fleetlens %v: %v", args, err)
	}
	return out.String(), 0
}

// fleetlens farm as QA runs it: simulated phones on a real adb server, `fleetlens agent`,
// then `farm run --wait` with its exit codes, summary and JUnit file, and the bad inputs.
func TestFarmCommands(t *testing.T) {
	t.Parallel()
	h := home(t)
	if out, code := fleetlens(t, h, "db", "start"); code != 0 {
		t.Fatalf("db start: %d %s", code, out)
	}
	url, _ := fleetlens(t, h, "db", "url")
	adb := adbserver.ForTest(t)
	env := []string{"FLEETLENS_HOME=" + h, "FLEETLENS_DB=" + strings.TrimSpace(url), "ANDROID_ADB_SERVER_PORT=" + strconv.Itoa(adb.Port)}
	dir := t.TempDir()
	background(t, env, "sim", "android", "--count", "3", "--connect", "--time-scale", "0.05", "--seed", "farmcli")
	time.Sleep(2 * time.Second)
	agentOut := background(t, env, "agent", "--host-id", "cli-host", "--artifacts", filepath.Join(dir, "art"), "--lease-ttl", "5s")
	deadline := time.Now().Add(40 * time.Second)
	for {
		out, _ := farmCLI(t, env, dir, "farm", "devices")
		if strings.Count(out, " idle ") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 idle devices not listed:\n%s\nagent:\n%s", out, agentOut.String())
		}
		time.Sleep(500 * time.Millisecond)
	}

	specs := []adbd.TestSpec{{Class: "com.example.shop.HomeTest", Method: "opens", DurationMS: 1000},
		{Class: "com.example.shop.HomeTest", Method: "scrolls", DurationMS: 1000}}
	write := func(name string, m adbd.Manifest) {
		var b bytes.Buffer
		if err := adbd.BuildAPK(&b, m, 16<<10); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
	}
	write("shop.apk", adbd.Manifest{Package: "com.example.shop"})
	write("shop-test.apk", adbd.Manifest{Package: "com.example.shop.test", Instrumentation: &adbd.Instrumentation{
		TargetPackage: "com.example.shop", Tests: specs}})
	write("broken-test.apk", adbd.Manifest{Package: "com.example.shop.test", Instrumentation: &adbd.Instrumentation{
		TargetPackage: "com.example.shop", Tests: append(specs, adbd.TestSpec{Class: "com.example.shop.PayTest", Method: "pays",
			Behaviours: []adbd.Behaviour{{Outcome: adbd.OutcomeFail, Message: "expected 200 but was 500"}}})}})
	write("long-test.apk", adbd.Manifest{Package: "com.example.shop.test", Instrumentation: &adbd.Instrumentation{
		TargetPackage: "com.example.shop", Tests: []adbd.TestSpec{{Class: "com.example.shop.SoakTest", Method: "soaks", DurationMS: 600_000}}}})
	files := map[string]string{
		"suite.yaml":   "name: cli\nretry:\n  per_test: 1\n",
		"nomatch.yaml": "name: cli\ndevices:\n  manufacturers: [Nokia]\n",
		"bad.yaml":     "name: cli\ndevices:\n  colour: blue\n",
	}
	for n, c := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
	}
	run := func(suite, testApk, release string, extra ...string) []string {
		return append([]string{"farm", "run", suite, "--app", "shop.apk", "--test-app", testApk, "--release", release}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"passes", run("suite.yaml", "shop-test.apk", "1.0", "--wait", "--junit", "ok.xml"), 0,
			[]string{"2/2 done", "PASSED", "junit: ok.xml"}},
		{"fails", run("suite.yaml", "broken-test.apk", "1.1", "--wait", "--junit", "bad.xml"), 1,
			[]string{"FAILED", "com.example.shop.PayTest#pays  java.lang.AssertionError: expected 200 but was 500  [", "4 attempts", "junit: bad.xml"}},
		{"no device matches", run("nomatch.yaml", "shop-test.apk", "1.2"), 2, []string{"nomatch.yaml: devices: the selection matches none of the 3 known devices; nothing was queued"}},
		{"bad suite", run("bad.yaml", "shop-test.apk", "1.2"), 2, []string{"bad.yaml:3: devices.colour: unknown field"}},
		{"no release", []string{"farm", "run", "suite.yaml", "--app", "shop.apk"}, 2, []string{"--release V are required"}},
		{"missing app", run("suite.yaml", "nope.apk", "1.2"), 2, []string{"nope.apk"}},
		{"runs", []string{"farm", "runs"}, 0, []string{"1.1      failed", "1.0      passed"}},
		{"show", []string{"farm", "show", "2"}, 1, []string{"run 2 cli (com.example.shop 1.1): FAILED"}},
		{"show unknown", []string{"farm", "show", "42"}, 2, []string{"no run 42"}},
	} {
		out, code := farmCLI(t, env, dir, tc.args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, tc.code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out)
			}
		}
	}
	// Cancel a run while an agent is in the middle of its one 30 s test (at the sim's time
	// scale): the agent loses the lease and stops, the device is free again.
	if out, code := farmCLI(t, env, dir, run("suite.yaml", "long-test.apk", "1.3")...); code != 0 || !strings.Contains(out, "run 3 queued: 1 tests") {
		t.Fatalf("long run: exit %d\n%s", code, out)
	}
	waitOut := func(what string, ok func() (string, bool)) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, done := ok()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s:\n%s\nagent:\n%s", what, out, agentOut.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitOut("run 3 never ran on a device", func() (string, bool) {
		out, _ := farmCLI(t, env, dir, "farm", "show", "3")
		return out, strings.Contains(out, "[running] 0/1 done") && strings.Contains(out, "devices busy 1")
	})
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"cancel", []string{"farm", "cancel", "3", "--reason", "wrong build"}, 0, "run 3 cancelled"},
		{"show cancelled", []string{"farm", "show", "3"}, 2, "run 3 ended in cancelled: wrong build"},
		{"cancel again", []string{"farm", "cancel", "3"}, 2, "farm cancel: run 3 is already cancelled"},
		{"cancel unknown", []string{"farm", "cancel", "42"}, 2, "farm cancel: no run 42"},
		{"cancel not a number", []string{"farm", "cancel", "three"}, 2, `"three" is not a run id`},
	} {
		out, code := farmCLI(t, env, dir, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", tc.name, code, tc.code, tc.want, out)
		}
	}
	waitOut("the agent did not abandon the cancelled run's test", func() (string, bool) {
		out := agentOut.String()
		return out, strings.Contains(out, "lease lost; abandoning work item")
	})
	waitOut("the devices are not all idle after the cancel", func() (string, bool) {
		out, _ := farmCLI(t, env, dir, "farm", "devices")
		return out, strings.Count(out, " idle ") == 3
	})

	data, err := os.ReadFile(filepath.Join(dir, "bad.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || doc.Tests != 3 || doc.Failures != 1 {
		t.Errorf("bad.xml: %+v %v", doc, err)
	}
}
