package gate

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

var testStrata = []string{"4g × high", "4g × mid", "3g × low", "3g × mid", "2g × low"}

// synth builds one release's data: per net×tier stratum, request TTFB ~ lognormal around base
// ms (slower on slow networks), cold starts, and crash/ANR/error counts; slowdown multiplies
// TTFB in one stratum.
func synth(release string, seed uint64, sessionsPer int64, slowStratum string, slowdown float64) ReleaseData {
	rng := rand.New(rand.NewPCG(seed, 99))
	rd := ReleaseData{Release: release, FirstSeen: testNow.Add(-48 * time.Hour), LastSeen: testNow.Add(-time.Hour)}
	all := rd.Stratum(Overall)
	base := map[string]float64{"4g": 80, "3g": 300, "2g": 900}
	for _, st := range testStrata {
		s := rd.Stratum(Key{DimNetTier, st})
		mult := 1.0
		if st == slowStratum {
			mult = slowdown
		}
		n := int(sessionsPer) * 2
		for range n {
			v := base[strings.Fields(st)[0]] * mult * (0.6 + rng.ExpFloat64()*0.5)
			s.Samples["request_ttfb"] = append(s.Samples["request_ttfb"], v)
			s.Samples["request_duration"] = append(s.Samples["request_duration"], v*1.8+20)
		}
		for range sessionsPer / 2 {
			s.Samples["cold_start"] = append(s.Samples["cold_start"], 900+rng.ExpFloat64()*400)
		}
		s.N["request_ttfb"], s.N["request_duration"], s.N["cold_start"] = int64(n), int64(n), sessionsPer/2
		crashes := int64(float64(sessionsPer)*0.004) + rng.Int64N(3)
		s.Counts["crash_rate"] = Count{crashes, sessionsPer}
		s.Counts["crash_free_sessions"] = Count{crashes, sessionsPer}
		s.Counts["anr_rate"] = Count{int64(float64(sessionsPer) * 0.002), sessionsPer}
		s.Counts["request_error_rate"] = Count{int64(n) / 100, int64(n)}
		s.Counts["slow_frame_rate"] = Count{sessionsPer * 3, sessionsPer}
		s.Counts["frozen_frame_rate"] = Count{sessionsPer / 10, sessionsPer}
		for id, c := range s.Counts {
			a := all.Counts[id]
			all.Counts[id] = Count{a.Events + c.Events, a.Exposure + c.Exposure}
		}
		for id, v := range s.Samples {
			all.Samples[id] = append(all.Samples[id], v...)
			all.N[id] += s.N[id]
		}
		rd.Sessions += sessionsPer
	}
	for i, model := range []string{"Pixel 7", "Galaxy A14"} {
		m := rd.Stratum(Key{DimModel, model})
		m.Counts["crash_rate"] = Count{int64(10 + i*5), 2000}
		m.Counts["anr_rate"] = Count{int64(4 + i), 2000}
	}
	return rd
}

func testInput(cand ReleaseData) *Input {
	return &Input{
		App: "com.example.shop", Baseline: synth("2.2.0", 1, 1500, "", 1), Candidate: cand,
		Now: testNow, Horizon: testNow.Add(-2 * time.Hour), ArrivalDelay: 2 * time.Hour,
		CompatBaseline: []CompatCell{{Model: "Pixel 7", OSVersion: "14", Passed: 48, Failed: 2, FailedTests: []string{"checkout_offline"}},
			{Model: "Galaxy A14", OSVersion: "13", Passed: 50}},
		CompatCandidate: []CompatCell{{Model: "Pixel 7", OSVersion: "14", Passed: 48, Failed: 2, FailedTests: []string{"checkout_offline"}},
			{Model: "Galaxy A14", OSVersion: "13", Passed: 50, Flaky: 1}},
	}
}

func TestJudge(t *testing.T) {
	pol := DefaultPolicy()
	for _, tc := range []struct {
		name     string
		cand     ReleaseData
		verdict  string
		exit     int
		failWhat string // a failing check's stratum
	}{
		{"regression in one stratum", synth("2.3.0", 2, 1500, "3g × low", 1.4), Fail, 1, "3g × low"},
		{"neutral change", synth("2.3.0", 3, 1500, "", 1), Pass, 0, ""},
		{"too little data", synth("2.3.0", 4, 40, "", 1), Inconclusive, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Judge(testInput(tc.cand), pol)
			if r.Verdict != tc.verdict || r.ExitCode != tc.exit {
				t.Fatalf("verdict %s (exit %d), want %s (%d): %s", r.Verdict, r.ExitCode, tc.verdict, tc.exit, r.Summary)
			}
			var failed []string
			for _, c := range r.Checks {
				if c.Status == StatusFail {
					failed = append(failed, c.Metric+"@"+c.Stratum)
				}
			}
			if tc.failWhat != "" {
				// Only the seeded stratum (and the overall aggregate it drags) may fail.
				if !slices.Contains(failed, "request_ttfb@"+tc.failWhat) {
					t.Errorf("failing checks %v do not name request_ttfb@%s", failed, tc.failWhat)
				}
				for _, f := range failed {
					if !strings.HasSuffix(f, "@"+tc.failWhat) && !strings.HasSuffix(f, "@overall") {
						t.Errorf("check %s failed outside the seeded stratum", f)
					}
				}
				if !strings.Contains(r.Summary, tc.failWhat) {
					t.Errorf("summary does not name the stratum: %s", r.Summary)
				}
			} else if len(failed) > 0 {
				t.Errorf("failing checks %v, want none", failed)
			}
			if tc.verdict == Inconclusive && (r.Data.WaitUntil == nil || !r.Data.WaitUntil.After(testNow)) {
				t.Errorf("inconclusive without a future wait-until: %+v", r.Data)
			}
		})
	}
}

func TestGuardrailFailsRegardlessOfBaseline(t *testing.T) {
	cand := synth("2.3.0", 3, 1500, "", 1)
	cand.Stratum(Key{DimModel, "Galaxy A14"}).Counts["crash_rate"] = Count{260, 2000} // 13% on one model
	in := testInput(cand)
	in.Baseline.Stratum(Key{DimModel, "Galaxy A14"}).Counts["crash_rate"] = Count{250, 2000} // baseline as bad
	r := Judge(in, DefaultPolicy())
	if r.Verdict != Fail || !strings.Contains(r.Summary, "Galaxy A14") {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Summary)
	}
}

func TestGolden(t *testing.T) {
	r := Judge(testInput(synth("2.3.0", 2, 1500, "3g × low", 1.4)), DefaultPolicy())
	for _, f := range []string{"md", "json", "text"} {
		var b bytes.Buffer
		if err := Render(&b, r, f); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "regression."+f+".golden")
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s output differs from %s (go test ./internal/gate -run TestGolden -update to accept):\n%s", f, path, b.String())
		}
	}
	var back Report
	var b bytes.Buffer
	_ = Render(&b, r, "json")
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Verdict != Fail {
		t.Errorf("JSON does not round-trip: %v %q", err, back.Verdict)
	}
	b.Reset()
	if err := Render(&b, r, "html"); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, want := range []string{"<svg", "3g × low", "FAIL", "polyline"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://cdn", "https://"} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML is not self-contained: contains %q", bad)
		}
	}
}

func TestGuardrailAtRiskIsMarginal(t *testing.T) {
	cand := synth("2.3.0", 3, 1500, "", 1)
	cand.Stratum(Overall).Counts["anr_rate"] = Count{40, 7500} // 0.53%: above 0.47%, CI not
	in := testInput(cand)
	in.Baseline.Stratum(Overall).Counts["anr_rate"] = Count{38, 7500}
	r := Judge(in, DefaultPolicy())
	if r.Verdict != Marginal || r.ExitCode != 1 || !strings.Contains(r.Summary, "guardrail is at risk") {
		t.Fatalf("verdict %s exit %d: %s", r.Verdict, r.ExitCode, r.Summary)
	}
	pol, err := ParsePolicy("p.yaml", []byte("marginal_is: pass\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := Judge(in, pol); r.Verdict != Marginal || r.ExitCode != 0 {
		t.Errorf("marginal_is: pass → verdict %s exit %d", r.Verdict, r.ExitCode)
	}
}
