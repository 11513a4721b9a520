package demo

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/internal/gate"
)

// quickPolicy lowers the gate's sample minimums for --quick, whose few hundred sessions
// are below the shipped policy's 500 per release (it would rightly say "inconclusive").
// Everything else (judges, confidence, guardrails) stays as shipped.
const quickPolicy = `# fleetlens demo --quick: the shipped policy with sample minimums for a small run.
min_sessions: 100
guardrails:
  min_model_sessions: 20
metrics:
  request_ttfb:        {min_samples: 40}
  request_duration:    {min_samples: 40}
  request_error_rate:  {min_samples: 100}
  cold_start:          {min_samples: 30}
  warm_start:          {min_samples: 30}
  slow_frame_rate:     {min_samples: 50}
  frozen_frame_rate:   {min_samples: 50}
  anr_rate:            {min_samples: 50}
  crash_rate:          {min_samples: 50}
  crash_free_sessions: {min_samples: 50}
`

// gate judges the candidate against the baseline on the field data and the farm results,
// stores the verdict (the TUI and dashboards read it) and writes the HTML report and the
// candidate's JUnit XML.
func (d *run) gate(ctx context.Context) (string, error) {
	e := d.env
	pol := gate.DefaultPolicy()
	if d.cfg.Quick {
		p, err := gate.ParsePolicy("demo --quick policy", []byte(quickPolicy))
		if err != nil {
			return "", err
		}
		pol = p
		d.p.note("--quick: the shipped policy with sample minimums for a small run (min_sessions 100, min_samples 30-100)")
	}
	// Every SDK queue was drained and acknowledged when the traffic step ended, so the
	// minute in which it ended is complete; judge as at the close of that minute rather
	// than make the user wait for the wall clock to pass it (the gate leaves the newest,
	// still-open minute out).
	asOf := time.Now()
	if closeOf := e.traffic.ended.Truncate(time.Minute).Add(time.Minute + 15*time.Second); closeOf.After(asOf) {
		asOf = closeOf
	}
	in, err := gate.Load(ctx, e.pool, gate.Request{App: AppID, Candidate: Candidate, Baseline: Baseline, Now: asOf}, pol)
	if err != nil {
		return "", err
	}
	rep := gate.Judge(in, pol)
	var html bytes.Buffer
	if err := gate.Render(&html, rep, "html"); err != nil {
		return "", err
	}
	reportPath := abs(filepath.Join(d.cfg.OutDir, ReportFile))
	if err := writeAtomic(reportPath, html.Bytes()); err != nil {
		return "", fmt.Errorf("write %s: %w", ReportFile, err)
	}
	if _, err := gate.Save(ctx, e.pool, rep); err != nil {
		return "", err
	}
	junitPath := abs(filepath.Join(d.cfg.OutDir, JUnitFile))
	var cand []*results.Run
	for _, r := range e.runs {
		if r.release == Candidate {
			cand = append(cand, r.run)
		}
	}
	junit, err := mergeJUnit(fmt.Sprintf("fleetlens demo: %s %s compatibility", AppID, Candidate), cand)
	if err != nil {
		return "", err
	}
	if err := writeAtomic(junitPath, junit); err != nil {
		return "", fmt.Errorf("write %s: %w", JUnitFile, err)
	}
	e.findings = findings(rep)
	e.result = &Result{Verdict: rep.Verdict, Summary: rep.Summary, ExitCode: rep.ExitCode, ReportPath: reportPath, JUnitPath: junitPath}
	return fmt.Sprintf("verdict %s, score %.0f, %d checks, %d farm cells", strings.ToUpper(rep.Verdict), rep.Score, len(rep.Checks), len(rep.Compat)), nil
}

// findings are the failing checks worth a line each on the terminal (the report has all).
func findings(rep *gate.Report) []string {
	var out []string
	shown, more := 0, 0
	for _, g := range rep.Guardrails {
		if g.Status != gate.StatusFail {
			continue
		}
		if shown++; shown > 3 {
			more++
			continue
		}
		out = append(out, fmt.Sprintf("guardrail %s on %s: %.2f%% > %.2f%% (%d of %d sessions)", g.Metric, g.Stratum,
			100*g.Rate, 100*g.Threshold, g.Events, g.Sessions))
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("... and %d more guardrails over their ceiling (see the report)", more))
	}
	n := 0
	for i := range rep.Checks {
		ch := &rep.Checks[i]
		if ch.Status != gate.StatusFail {
			continue
		}
		if n++; n > 6 {
			break
		}
		out = append(out, ch.Headline())
	}
	for _, c := range rep.Compat {
		if c.Status != gate.StatusFail {
			continue
		}
		line := fmt.Sprintf("farm: %s / %s: pass rate %.0f%% -> %.0f%%", c.Model, c.OSVersion, 100*c.BasePass, 100*c.CandPass)
		if len(c.NewFailures) > 0 {
			line += ", new failures: " + strings.Join(c.NewFailures, ", ")
		}
		if c.NewCrashes > 0 {
			line += fmt.Sprintf(", %d new crashes", c.NewCrashes)
		}
		out = append(out, line)
	}
	return out
}

// mergeJUnit puts several runs' JUnit documents (results.WriteJUnit) under one
// <testsuites>, summing the totals, so CI reads one file for the candidate.
func mergeJUnit(name string, runs []*results.Run) ([]byte, error) {
	type rawSuite struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
		Inner   []byte     `xml:",innerxml"`
	}
	type doc struct {
		XMLName xml.Name   `xml:"testsuites"`
		Attrs   []xml.Attr `xml:",any,attr"`
		Suites  []rawSuite `xml:"testsuite"`
	}
	totals := map[string]float64{}
	order := []string{"tests", "failures", "errors", "skipped", "flaky", "time"}
	var all []rawSuite
	for _, r := range runs {
		var b bytes.Buffer
		if err := results.WriteJUnit(&b, r); err != nil {
			return nil, err
		}
		var dd doc
		if err := xml.Unmarshal(b.Bytes(), &dd); err != nil {
			return nil, fmt.Errorf("junit of run %d: %w", r.ID, err)
		}
		for _, a := range dd.Attrs {
			if v, err := strconv.ParseFloat(a.Value, 64); err == nil {
				totals[a.Name.Local] += v
			}
		}
		all = append(all, dd.Suites...)
	}
	out := doc{XMLName: xml.Name{Local: "testsuites"}, Attrs: []xml.Attr{{Name: xml.Name{Local: "name"}, Value: name}}, Suites: all}
	for _, k := range order {
		v := strconv.FormatFloat(totals[k], 'f', 0, 64)
		if k == "time" {
			v = strconv.FormatFloat(totals[k], 'f', 3, 64)
		}
		out.Attrs = append(out.Attrs, xml.Attr{Name: xml.Name{Local: k}, Value: v})
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// writeAtomic writes via a temporary file and rename so a reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
