package android

import (
	"strconv"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// Status codes of `am instrument -r` (android.app.Instrumentation and AndroidJUnitRunner's
// InstrumentationResultPrinter).
const (
	codeStart      = 1
	codeInProgress = 2
	codeOK         = 0
	codeError      = -1
	codeFailure    = -2
	codeIgnored    = -3
	codeAssumption = -4
)

// RunSummary is what the end of the raw output says about the whole run.
type RunSummary struct {
	Completed bool   // INSTRUMENTATION_CODE seen
	Code      int    // INSTRUMENTATION_CODE (-1 is Activity.RESULT_OK)
	ShortMsg  string // e.g. "Process crashed."
	Error     string // a run failure (unknown instrumentation, runner error)
	NumTests  int
	Reported  int
	Time      time.Duration // the runner's own "Time:" total
}

// instrParser parses `am instrument -r` output incrementally, line by line, in the manner
// of ddmlib's InstrumentationResultParser. Results are held back until the next status so a
// "Process crashed." that follows a failure turns it into an error.
type instrParser struct {
	now      func() time.Time
	emit     func(driver.TestResult)
	onStart  func(driver.TestCase)
	bundle   map[string]string
	key      string // key whose value continues on following lines
	result   map[string]string
	inResult bool
	started  map[driver.TestCase]time.Time
	current  *driver.TestCase
	pending  *driver.TestResult
	sum      RunSummary
	partial  string
}

func newInstrParser(emit func(driver.TestResult)) *instrParser {
	return &instrParser{now: time.Now, emit: emit, bundle: map[string]string{}, result: map[string]string{}, started: map[driver.TestCase]time.Time{}}
}

// Write feeds raw output; lines may arrive split across writes.
func (p *instrParser) Write(b []byte) (int, error) {
	s := p.partial + string(b)
	lines := strings.Split(s, "\n")
	p.partial = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		p.line(strings.TrimSuffix(l, "\r"))
	}
	return len(b), nil
}

func (p *instrParser) line(l string) {
	switch {
	case strings.HasPrefix(l, "INSTRUMENTATION_STATUS: "):
		p.inResult = false
		k, v, _ := strings.Cut(strings.TrimPrefix(l, "INSTRUMENTATION_STATUS: "), "=")
		p.bundle[k] = v
		p.key = k
	case strings.HasPrefix(l, "INSTRUMENTATION_STATUS_CODE: "):
		p.key = ""
		code, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "INSTRUMENTATION_STATUS_CODE: ")))
		if err != nil {
			code = codeError
		}
		p.status(code)
		p.bundle = map[string]string{}
	case strings.HasPrefix(l, "INSTRUMENTATION_RESULT: "):
		p.inResult = true
		k, v, _ := strings.Cut(strings.TrimPrefix(l, "INSTRUMENTATION_RESULT: "), "=")
		p.result[k] = v
		p.key = k
	case strings.HasPrefix(l, "INSTRUMENTATION_CODE: "):
		p.key = ""
		if code, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "INSTRUMENTATION_CODE: "))); err == nil {
			p.sum.Completed, p.sum.Code = true, code
		}
	case strings.HasPrefix(l, "INSTRUMENTATION_ABORTED: "):
		p.sum.ShortMsg = strings.TrimPrefix(l, "INSTRUMENTATION_ABORTED: ")
	case strings.Contains(l, "INSTRUMENTATION_FAILED: "):
		if p.sum.Error == "" {
			p.sum.Error = l
		}
	case p.key != "":
		target := p.bundle
		if p.inResult {
			target = p.result
		}
		target[p.key] += "\n" + l
	}
}

func (p *instrParser) status(code int) {
	b := p.bundle
	if e, ok := b["Error"]; ok {
		p.sum.Error = e
		return
	}
	if n, err := strconv.Atoi(b["numtests"]); err == nil {
		p.sum.NumTests = n
	}
	tc := driver.TestCase{Class: b["class"], Method: b["test"]}
	if tc.Class == "" && tc.Method == "" {
		return // a status with no test (e.g. in-progress output)
	}
	switch code {
	case codeStart:
		p.flush()
		p.started[tc] = p.now()
		p.current = &tc
		if p.onStart != nil {
			p.onStart(tc)
		}
		return
	case codeInProgress:
		return
	}
	res := driver.TestResult{TestCase: tc}
	switch code {
	case codeOK:
		res.Status = driver.TestPassed
	case codeFailure:
		res.Status = driver.TestFailed
	case codeIgnored:
		res.Status = driver.TestIgnored
	case codeAssumption:
		res.Status = driver.TestAssumptionFailure
	default:
		res.Status = driver.TestError
	}
	res.Stack = strings.TrimRight(b["stack"], "\n")
	res.Message = firstLine(res.Stack)
	if t0, ok := p.started[tc]; ok {
		res.Duration = p.now().Sub(t0)
		delete(p.started, tc)
	}
	p.current = nil
	p.flush()
	p.pending = &res
}

func (p *instrParser) flush() {
	if p.pending != nil {
		p.sum.Reported++
		p.emit(*p.pending)
		p.pending = nil
	}
}

// finish ends the parse: a crash turns the last failure or the unfinished test into an
// error; a test left running when the output stopped is reported as an error too.
func (p *instrParser) finish(reason string) RunSummary {
	if p.partial != "" {
		p.line(p.partial)
		p.partial = ""
	}
	if msg := p.result["shortMsg"]; msg != "" {
		p.sum.ShortMsg = msg
	}
	if stream := p.result["stream"]; stream != "" {
		for _, l := range strings.Split(stream, "\n") {
			if v, ok := strings.CutPrefix(l, "Time: "); ok {
				if f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(v), ",", ""), 64); err == nil {
					p.sum.Time = time.Duration(f * float64(time.Second))
				}
			}
		}
	}
	crashed := p.sum.ShortMsg != ""
	if crashed && p.pending != nil && p.pending.Status == driver.TestFailed && p.current == nil {
		p.pending.Status = driver.TestError
		p.pending.Message = p.sum.ShortMsg + " " + p.pending.Message
	}
	p.flush()
	if p.current != nil {
		tc := *p.current
		msg := reason
		if crashed {
			msg = p.sum.ShortMsg
		}
		res := driver.TestResult{TestCase: tc, Status: driver.TestError, Message: msg}
		if t0, ok := p.started[tc]; ok {
			res.Duration = p.now().Sub(t0)
		}
		p.current = nil
		p.pending = &res
		p.flush()
	}
	return p.sum
}
