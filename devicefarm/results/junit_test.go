package results

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleRun() *Run {
	start := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	end := start.Add(90 * time.Second)
	att := func(serial, model, os, status, infra, msg string, ms int) Attempt {
		return Attempt{Serial: serial, Host: "rack1", Model: model, OSVersion: os, Status: status, InfraReason: infra,
			Message: msg, Duration: time.Duration(ms) * time.Millisecond, LogExcerpt: "I/TestRunner: " + status}
	}
	return &Run{ID: 7, Name: "checkout", AppID: "com.example.shop", Release: "2.3.0", State: "failed", StartedAt: &start, FinishedAt: &end,
		Tests: []Test{
			{Class: "com.example.CartTest", Method: "adds", Status: "passed", Attempts: []Attempt{att("s1", "Pixel 7", "14", "passed", "", "", 1200)}},
			{Class: "com.example.CartTest", Method: "syncs", Status: "flaky", Attempts: []Attempt{
				att("s1", "Pixel 7", "14", "failed", "", "timeout waiting for <sync>", 900),
				att("s2", "SM-A125F", "11", "passed", "", "", 1000)}},
			{Class: "com.example.PayTest", Method: "pays", Profile: "3g-average", Status: "failed", Message: "expected 200 & got 500", Attempts: []Attempt{
				att("s2", "SM-A125F", "11", "infra", "device_lost", "device gone", 0),
				{Serial: "s3", Model: "Pixel 4a", OSVersion: "13", Status: "failed", Message: "expected 200 & got 500\nat Pay.kt:10", Stack: "java.lang.AssertionError\n\tat Pay.kt:10", Duration: 800 * time.Millisecond, CrashKind: "crash", Crash: "FATAL EXCEPTION: main"}}},
			{Class: "com.example.PayTest", Method: "legacy", Status: "skipped", Message: "@Ignore", Attempts: []Attempt{att("s3", "Pixel 4a", "13", "skipped", "", "", 0)}},
		}}
}

func TestJUnitGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sampleRun()); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/run7.junit.xml"
	if *update {
		os.WriteFile(golden, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("JUnit differs from %s (go test -update to accept):\n%s", golden, buf.String())
	}
	var parsed struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Flaky    int `xml:"flaky,attr"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &parsed); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if parsed.Tests != 4 || parsed.Failures != 1 || parsed.Skipped != 1 || parsed.Flaky != 1 {
		t.Errorf("counts %+v", parsed)
	}
	c := sampleRun().Count()
	if c.Attempts != 6 || c.Infra != 1 || c.Flaky != 1 || c.Failed != 1 {
		t.Errorf("Count %+v", c)
	}
}
