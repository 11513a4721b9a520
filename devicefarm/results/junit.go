package results

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// JUnit XML as Jenkins/GitLab/Surefire read it: testsuites > testsuite (one per class) >
// testcase with failure/error/skipped, flaky attempts as <flakyFailure> (Surefire's
// rerun format) plus a flaky="true" attribute, and the log excerpt in system-out.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Flaky    int          `xml:"flaky,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Flaky     string        `xml:"flaky,attr,omitempty"`
	Failure   *junitFailure `xml:"failure"`
	Error     *junitFailure `xml:"error"`
	Skipped   *junitFailure `xml:"skipped"`
	FlakyFail []junitFlaky  `xml:"flakyFailure"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

type junitFlaky struct {
	Message    string `xml:"message,attr,omitempty"`
	Type       string `xml:"type,attr,omitempty"`
	StackTrace string `xml:"stackTrace,omitempty"`
	SystemOut  string `xml:"system-out,omitempty"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the run as JUnit XML.
func WriteJUnit(w io.Writer, r *Run) error {
	doc := junitSuites{Name: fmt.Sprintf("%s %s run %d", r.Name, r.Release, r.ID)}
	byClass := map[string]*junitSuite{}
	var classes []string
	var total time.Duration
	for _, t := range r.Tests {
		s := byClass[t.Class]
		if s == nil {
			s = &junitSuite{Name: t.Class}
			if r.StartedAt != nil {
				s.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
			}
			byClass[t.Class] = s
			classes = append(classes, t.Class)
		}
		c := junitCase{Name: t.Name(), Classname: t.Class}
		var dur time.Duration
		var last *Attempt
		var out []string
		for i := range t.Attempts {
			a := &t.Attempts[i]
			dur += a.Duration
			out = append(out, fmt.Sprintf("attempt %d on %s (%s, OS %s) via %s: %s%s %s", i+1, a.Serial, a.Model,
				a.OSVersion, a.Host, a.Status, suffix(a.InfraReason), firstLine(a.Message)))
			if a.LogExcerpt != "" {
				out = append(out, a.LogExcerpt)
			}
			if a.Crash != "" {
				out = append(out, a.CrashKind+": "+a.Crash)
			}
			if a.Status != "infra" {
				last = a
			}
		}
		c.Time = secs(dur)
		c.SystemOut = strings.Join(out, "\n")
		fail := func(a *Attempt) *junitFailure {
			if a == nil {
				return &junitFailure{Message: t.Message}
			}
			return &junitFailure{Message: firstLine(a.Message), Type: a.Status, Body: a.Stack}
		}
		switch t.Status {
		case "failed":
			c.Failure = fail(last)
			s.Failures++
		case "error", "pending", "running":
			c.Error = fail(last)
			if t.Status != "error" {
				c.Error.Message = "not finished: " + t.Status
			}
			s.Errors++
		case "skipped":
			c.Skipped = &junitFailure{Message: firstLine(t.Message)}
			s.Skipped++
		case "flaky":
			c.Flaky = "true"
			doc.Flaky++
			for _, a := range t.Attempts {
				if a.Status == "failed" || a.Status == "error" {
					c.FlakyFail = append(c.FlakyFail, junitFlaky{Message: firstLine(a.Message), Type: a.Status,
						StackTrace: a.Stack, SystemOut: a.LogExcerpt})
				}
			}
		}
		s.Tests++
		total += dur
		s.Time = secs(parseSecs(s.Time) + dur)
		s.Cases = append(s.Cases, c)
	}
	sort.Strings(classes)
	for _, cl := range classes {
		s := byClass[cl]
		doc.Suites = append(doc.Suites, *s)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	doc.Time = secs(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func parseSecs(s string) time.Duration {
	var f float64
	fmt.Sscanf(s, "%f", &f)
	return time.Duration(f * float64(time.Second))
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
