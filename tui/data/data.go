// Package data owns what the TUI reads and does: the small interfaces its pages consume
// (Source for reads and live events, Farm for starting and cancelling runs, Gate for verdicts)
// and their real PostgreSQL implementation, which listens on the farm's NOTIFY channels and
// reconnects when the database restarts. Pages never see SQL.
package data

import (
	"context"
	"errors"
	"time"
)

// Device is one row of the fleet: a device as the farm's agents last reported it.
type Device struct {
	Serial       string
	Platform     string // android | ios
	HostID       string
	Hostname     string
	State        string // idle | busy | draining | offline | quarantined
	Manufacturer string
	Model        string
	OSVersion    string
	APILevel     int
	Tier         string
	RAMMB        int
	Cores        int
	MaxMHz       int
	Screen       string
	Battery      *int
	TempC        *float64
	Charging     *bool
	Thermal      string
	FreeMB       *int64
	HealthOK     bool
	HealthReason string
	Quarantine   string
	CurrentRun   *int64
	CurrentTest  string
	LastSeen     time.Time
}

// Host names the device's host by its agent's id (the hostname by default): several agents
// can share one machine, so the machine's hostname alone would merge their devices.
func (d Device) Host() string {
	if d.HostID != "" {
		return d.HostID
	}
	return d.Hostname
}

// HealthReading is one entry of a device's health history.
type HealthReading struct {
	At      time.Time
	Battery *int
	TempC   *float64
	Thermal string
	FreeMB  *int64
	OK      bool
	Reason  string
}

// Attempt is one execution of a test on a device.
type Attempt struct {
	ID          int64
	RunID       int64
	Test        string // class#method
	Profile     string
	Serial      string
	Model       string
	OSVersion   string
	Status      string // passed | failed | error | skipped | infra
	InfraReason string
	DurationMS  int
	Message     string
	LogExcerpt  string
	CrashKind   string
	Screenshot  string
	ArtifactDir string
	StartedAt   time.Time
}

// DeviceDetail is everything the device page shows.
type DeviceDetail struct {
	Device   Device
	Health   []HealthReading
	Attempts []Attempt
	LogTail  []string // the newest attempt's log excerpt, last lines
}

// Run is one row of the runs view.
type Run struct {
	ID          int64
	Name        string
	Suite       string
	AppID       string
	Release     string
	Baseline    string
	Platform    string
	State       string
	Reason      string
	Total       int
	Done        int
	Passed      int
	Failed      int
	Flaky       int
	Errored     int
	Skipped     int
	DevicesBusy int
	RemainingMS int64
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
}

// Active reports whether the run may still change.
func (r Run) Active() bool { return r.State == "queued" || r.State == "running" }

// ETA estimates the time left: the observed pace when tests have finished, else the
// expected durations spread over the devices working on it. Zero means unknown or done.
func (r Run) ETA(now time.Time) time.Duration {
	if !r.Active() || r.Done >= r.Total && r.Total > 0 {
		return 0
	}
	left := r.Total - r.Done
	if r.Done > 0 && r.StartedAt != nil {
		per := now.Sub(*r.StartedAt) / time.Duration(r.Done)
		return per * time.Duration(left)
	}
	busy := max(r.DevicesBusy, 1)
	return time.Duration(r.RemainingMS/int64(busy)) * time.Millisecond
}

// Group is a run's outcome on one (model, OS version).
type Group struct {
	Model     string
	OSVersion string
	Tests     int
	Passed    int
	Failed    int
	Flaky     int
	Other     int
}

// TestResult is a run's verdict on one test (and network profile).
type TestResult struct {
	ID         int64
	Test       string
	Profile    string
	Status     string
	Attempts   int
	Passes     int
	Failures   int
	Infra      int
	DurationMS *int
	Message    string
}

// RunDetail is everything the run page shows.
type RunDetail struct {
	Run      Run
	Groups   []Group
	Tests    []TestResult
	Failures []Attempt // failed, errored and infra attempts, newest first
}

// Event is a batch of live changes: the source coalesces NOTIFY payloads so that a storm
// of device updates costs the screen one refresh.
type Event struct {
	Conn    *ConnState // set when the connection to the database changed
	Serials []string   // devices whose row changed
	Runs    []int64    // runs whose state or progress changed
	All     bool       // notifications may have been missed (reconnect): reload everything
}

// ConnState says whether live updates are flowing.
type ConnState struct {
	Up      bool
	Attempt int // reconnect attempts so far while down
	Err     error
	Since   time.Time
}

// Source is what the pages read.
type Source interface {
	Devices(ctx context.Context) ([]Device, error)
	DevicesBySerial(ctx context.Context, serials []string) ([]Device, error)
	Device(ctx context.Context, serial string) (DeviceDetail, error)
	Runs(ctx context.Context) ([]Run, error)
	Run(ctx context.Context, id int64) (RunDetail, error)
	// Events delivers live changes until the source is shut down.
	Events() <-chan Event
	Ping(ctx context.Context) error
}

// StartRequest is what the start-run form collects.
type StartRequest struct {
	SuitePath   string
	Release     string
	AppFile     string
	TestAppFile string
	Profile     string
}

// SuiteError is one problem in a suite file, located for inline display.
type SuiteError struct {
	Line    int
	Field   string
	Message string
}

// SuiteErrors is the error a Farm returns for a suite file that does not validate.
type SuiteErrors struct {
	Path   string
	Errors []SuiteError
}

func (e *SuiteErrors) Error() string {
	if len(e.Errors) == 0 {
		return e.Path + ": invalid suite"
	}
	s := e.Errors[0]
	return e.Path + ": " + s.Field + ": " + s.Message
}

// Farm starts and cancels runs through the device farm's own API.
type Farm interface {
	CheckSuite(ctx context.Context, path string) error
	StartRun(ctx context.Context, req StartRequest) (int64, error)
	CancelRun(ctx context.Context, id int64, reason string) error
}

// ErrNoFarm is returned by actions of a build without the farm wired in.
var ErrNoFarm = errors.New("the device farm is not available in this build")

// Check is one gate check (metric in one stratum).
type Check struct {
	Stratum   string // e.g. "overall", "model=Pixel 7", "network=3g"
	Metric    string
	Verdict   string // pass | marginal | fail | inconclusive
	Baseline  float64
	Candidate float64
	Threshold float64
	Unit      string
	Detail    string
	Series    []float64 // candidate's recent values for a sparkline, may be empty
}

// Verdict is the gate's decision on a candidate against a baseline.
type Verdict struct {
	AppID     string
	Candidate string
	Baseline  string
	Verdict   string // pass | marginal | fail | inconclusive
	Score     float64
	Summary   string
	At        time.Time
	Stored    bool // read from the gate's stored verdicts rather than computed now
	Checks    []Check
}

// Gate gives the release gate's verdicts.
type Gate interface {
	// Verdict judges candidate against baseline now.
	Verdict(ctx context.Context, app, candidate, baseline string) (Verdict, error)
	// Stored returns the newest stored verdict, if any.
	Stored(ctx context.Context, app, candidate, baseline string) (Verdict, bool, error)
	// Export writes the report in format (html, md, json, text) to path.
	Export(ctx context.Context, app, candidate, baseline, format, path string) error
}

// ErrNoGate is returned by a build without the gate wired in.
var ErrNoGate = errors.New("the release gate is not available in this build")
