package main

import (
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The done-when: `fleetlens demo --quick` runs the whole story (database, collector,
// simulated Android on a real adb server, simulated iOS behind a simulated usbmuxd, two
// agents, field traffic through the SDK and toxiproxy, farm suites, the gate) and ends with
// the candidate failing for the seeded reasons, the two files written, exit code 0, and
// nothing left running.
func TestDemoQuickReachesAMigratedDatabase(t *testing.T) {
	t.Parallel()
	h := home(t)
	dir := t.TempDir()
	out, code := fleetlens(t, h, "demo", "--quick", "--out-dir", dir)
	if code != 0 {
		t.Fatalf("demo --quick: exit %d, want 0 (the gate failing the candidate is the intended outcome)\n%s", code, out)
	}
	for _, want := range []string{
		"[1/8] starting the managed PostgreSQL cluster and migrating it ... done in",
		"schema version",
		"[8/8] release gate: 2.3.0 against 2.2.0 ... done in",
		"VERDICT: com.example.shop 2.3.0 FAILS against 2.2.0",
		"3g × low",      // the stratum of the seeded TTFB regression
		"SM-A125F / 10", // the model/OS the candidate crashes on in the farm
		"fleetlens tui", // what to do next
		"dashboards/",   // where the Grafana provisioning lives
		"verdict fail, as intended",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "demo-report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(html); !strings.Contains(s, "<html") || !strings.Contains(strings.ToLower(s), "fail") || !strings.Contains(s, "2.3.0") {
		t.Errorf("demo-report.html is not the gate's failing report (%d bytes)", len(html))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "demo-junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var junit struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string    `xml:"name,attr"`
				Classname string    `xml:"classname,attr"`
				Error     *struct{} `xml:"error"`
				Failure   *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &junit); err != nil {
		t.Fatalf("demo-junit.xml: %v", err)
	}
	crashed := false
	classes := map[string]bool{}
	for _, s := range junit.Suites {
		for _, c := range s.Cases {
			classes[c.Classname] = true
			if c.Classname == "com.example.shop.CheckoutTest" && (c.Error != nil || c.Failure != nil) {
				crashed = true
			}
		}
	}
	if junit.Tests == 0 || junit.Failures+junit.Errors == 0 || !crashed || !classes["ios.smoke"] {
		t.Errorf("demo-junit.xml: %d tests, %d failures, %d errors, checkout crash %v, classes %v; want the candidate's Android and iOS runs with the checkout crash",
			junit.Tests, junit.Failures, junit.Errors, crashed, classes)
	}
	if status, code := fleetlens(t, h, "db", "status"); code != 3 {
		t.Errorf("the demo left the cluster it started running: %q", status)
	}
}

func TestDemoKeepExitsCleanlyOnCtrlC(t *testing.T) {
	t.Parallel()
	h := home(t)
	cmd := exec.Command(binary, "demo", "--quick", "--keep", "--out-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "FLEETLENS_HOME="+h, "FLEETLENS_DB=")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(150 * time.Second)
	for !strings.Contains(out.String(), "press Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("demo --keep never said it was ready:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	adbPort := ""
	if i := strings.Index(out.String(), "adb server started on port "); i >= 0 {
		f := strings.Fields(out.String()[i+len("adb server started on port "):])
		adbPort = strings.TrimRight(f[0], ")")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after Ctrl-C: %v\n%s", err, out.String())
	}
	if status, code := fleetlens(t, h, "db", "status"); code != 3 {
		t.Fatalf("the demo left its cluster running after Ctrl-C: %q", status)
	}
	// Its private adb server is gone too (dial, never `adb devices`: that would start one).
	if _, err := strconv.Atoi(adbPort); err != nil {
		t.Fatalf("output does not name the adb server's port:\n%s", out.String())
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+adbPort, time.Second); err == nil {
		c.Close()
		t.Errorf("the demo's adb server on port %s still listens after Ctrl-C", adbPort)
	}
}
