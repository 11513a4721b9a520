// Package demo owns `fleetlens demo`: the whole story on one machine, built only from the
// product's own components. It starts the managed PostgreSQL cluster (internal/pg), the
// collector, simulated Android phones behind a real adb server (devicefarm/sim/adbd,
// internal/adbserver) and simulated iPhones behind a simulated usbmuxd
// (devicefarm/sim/usbmux), two agents that share the devices and one database (agent), field
// traffic for a baseline and a candidate release through the SDK and toxiproxy
// (devicefarm/sim/traffic), compatibility suites on the fleet (devicefarm/schedule,
// devicefarm/results) and the release gate (internal/gate), printing a numbered step with its
// duration for each; then it stops everything it started, in reverse order, also on error
// or Ctrl-C.
//
// What the demo seeds, so the gate has something true to find: the candidate 2.3.0 is slower
// for low-tier devices on 3g and crashes on one Android model/OS version (in the field and
// in the farm) and on one iOS version (in the farm).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// The app and releases of the story.
const (
	AppID     = "com.example.shop"
	Baseline  = "2.2.0"
	Candidate = "2.3.0"
)

// Files the demo writes into Config.OutDir.
const (
	ReportFile = "demo-report.html"
	JUnitFile  = "demo-junit.xml"
)

// Config scales and places one demo run.
type Config struct {
	Android int  // simulated Android devices (default 200)
	IOS     int  // simulated iOS devices (default 50; 0 leaves iOS out)
	Quick   bool // a few devices, few sessions, time-scaled tests: for `make test`
	Keep    bool // keep everything running after the story until ctx ends (Ctrl-C)

	OutDir string // where demo-report.html and demo-junit.xml go (default ".")
	// DSN is the database to use; "" means the managed cluster under PGHome (started if
	// stopped, and stopped again at the end if the demo started it).
	DSN    string
	PGHome string // default pg.DefaultHome()
	// WorkDir holds the adb server's HOME, the usbmuxd socket, the agents' artifacts and the
	// SDK queues; default a fresh temporary directory, removed at the end.
	WorkDir string

	Out io.Writer    // progress (default os.Stdout)
	Log *slog.Logger // components' logs (default: warnings and errors to stderr)
}

// Validate reports the first unusable setting.
func (c *Config) Validate() error {
	switch {
	case c.Android < 2 || c.Android > 1000:
		return fmt.Errorf("--android %d: want 2..1000 devices (two hosts share them)", c.Android)
	case c.IOS < 0 || c.IOS > 500:
		return fmt.Errorf("--ios %d: want 0..500 devices", c.IOS)
	}
	return nil
}

// Result is what the story ended with.
type Result struct {
	Verdict    string // the gate's verdict on the candidate: "fail" is the intended outcome
	Summary    string // the gate's one-paragraph summary
	ExitCode   int    // the gate's own exit code (1 for fail)
	ReportPath string
	JUnitPath  string
	Steps      []Step
}

// ErrStoryBroken means the demo ran but the gate did not fail the candidate: the seeded
// regressions were not found, which is a bug somewhere in the chain.
var ErrStoryBroken = errors.New("the gate did not fail the candidate")

// scale is what Quick and the device counts turn into.
type scale struct {
	android, ios int
	sessions     int     // field sessions per release
	timeScale    float64 // simulated test durations multiplier
	tests        int     // CartTest cases besides the scripted ones
}

func (c *Config) scale() scale {
	if c.Quick {
		// Eight of each reach the models and OS versions the regressions are seeded on
		// (catalog.Fleet cycles models in catalog order: index 7 is the Galaxy A12 on
		// Android 10, the iPhone 12 on iOS 17.6).
		return scale{android: min(c.Android, 8), ios: min(c.IOS, 8), sessions: 240, timeScale: 0.02, tests: 2}
	}
	return scale{android: c.Android, ios: c.IOS, sessions: 600, timeScale: 0.02, tests: 6}
}

// Run tells the whole story and returns the gate's verdict. It returns an error only when
// the demo itself broke (a component failed to start, a run did not finish, ctx ended);
// wrapping ErrStoryBroken when everything ran but the gate did not fail the candidate.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	logPath := ""
	if cfg.Log == nil {
		// The components' own logs (go-ios, adb, agents) go to a file, so the terminal shows
		// the story; the path is printed when something breaks.
		logPath = filepath.Join(os.TempDir(), "fleetlens-demo.log")
		f, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("demo log: %w", err)
		}
		defer f.Close()
		cfg.Log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
		// Components that log through the default logger (the collector) go there too.
		prev := slog.Default()
		slog.SetDefault(cfg.Log)
		defer slog.SetDefault(prev)
	}
	if cfg.OutDir == "" {
		cfg.OutDir = "."
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("--out-dir: %w", err)
	}
	d := &run{cfg: cfg, sc: cfg.scale(), log: cfg.Log}
	d.p = &progress{out: cfg.Out, total: 8}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "fleetlens-demo-")
		if err != nil {
			return nil, err
		}
		d.st.push("work directory", func(context.Context) error { return os.RemoveAll(dir) })
		cfg.WorkDir, d.cfg.WorkDir = dir, dir
	}
	res, err := d.story(ctx)
	if err == nil && cfg.Keep {
		d.keep(ctx)
	}
	uerr := d.st.unwind(ctx, 30*time.Second)
	for _, m := range d.stopped {
		fmt.Fprintln(cfg.Out, m)
	}
	if res != nil {
		res.Steps = d.p.steps
	}
	if uerr != nil {
		// Reported, not fatal: the story's outcome stands; what did not stop is named.
		fmt.Fprintln(cfg.Out, "warning: "+uerr.Error())
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("interrupted; everything the demo started is stopped: %w", err)
	} else if err != nil && logPath != "" && !errors.Is(err, ErrStoryBroken) {
		err = fmt.Errorf("%w (components' log: %s)", err, logPath)
	}
	return res, err
}

// run is one demo run's state.
type run struct {
	cfg     Config
	sc      scale
	log     *slog.Logger
	p       *progress
	st      stack
	stopped []string // messages to print after the unwind

	env *env // what the steps started
}

func (d *run) story(ctx context.Context) (*Result, error) {
	d.env = &env{}
	steps := []struct {
		what string
		fn   func(context.Context) (string, error)
	}{
		{"starting the managed PostgreSQL cluster and migrating it", d.startDatabase},
		{"starting the collector (OTLP/HTTP and gRPC) for " + AppID, d.startCollector},
		{fmt.Sprintf("starting %d simulated Android devices on a real adb server", d.sc.android), d.startAndroid},
		{fmt.Sprintf("starting %d simulated iOS devices behind a simulated usbmuxd", d.sc.ios), d.startIOS},
		{"starting two agents (two hosts) sharing the devices and one database", d.startAgents},
		{fmt.Sprintf("field traffic for %s and %s through the SDK and toxiproxy profiles", Baseline, Candidate), d.traffic},
		{fmt.Sprintf("compatibility suites for %s and %s on the fleet", Baseline, Candidate), d.farm},
		{fmt.Sprintf("release gate: %s against %s", Candidate, Baseline), d.gate},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := d.p.step(ctx, s.what, s.fn); err != nil {
			return nil, err
		}
	}
	res := d.env.result
	d.printOutcome(res)
	if res.Verdict != "fail" {
		return res, fmt.Errorf("%w: verdict %s (%s)", ErrStoryBroken, res.Verdict, res.Summary)
	}
	return res, nil
}

// keep leaves everything running until ctx ends.
func (d *run) keep(ctx context.Context) {
	fmt.Fprintln(d.cfg.Out, "keeping everything running (collector, devices, agents, database); press Ctrl-C to stop")
	<-ctx.Done()
	fmt.Fprintln(d.cfg.Out, "stopping ...")
}

func (d *run) printOutcome(res *Result) {
	out := d.cfg.Out
	e := d.env
	fmt.Fprintln(out)
	if res.Verdict == "fail" {
		fmt.Fprintf(out, "VERDICT: %s %s FAILS against %s, as seeded: the gate caught the regressions.\n", AppID, Candidate, Baseline)
	} else {
		fmt.Fprintf(out, "VERDICT: %s %s: %s (expected fail: the seeded regressions were missed)\n", AppID, Candidate, res.Verdict)
	}
	fmt.Fprintln(out, "  "+res.Summary)
	for _, l := range e.findings {
		fmt.Fprintln(out, "  - "+l)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "report:   "+res.ReportPath)
	fmt.Fprintln(out, "junit:    "+res.JUnitPath)
	fmt.Fprintln(out, "database: "+e.dsnRedacted)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "next:")
	if d.cfg.Keep {
		fmt.Fprintln(out, "  fleetlens tui              # in another terminal: fleet, runs and the regression verdict, live")
	} else {
		fmt.Fprintln(out, "  fleetlens tui              # explore runs and the verdict (fleetlens demo --keep keeps the fleet up)")
	}
	fmt.Fprintf(out, "  fleetlens gate --app %s --candidate %s --baseline %s --format md\n", AppID, Candidate, Baseline)
	fmt.Fprintln(out, "  fleetlens farm runs        # then: fleetlens farm show RUN")
	fmt.Fprintln(out, "  dashboards/                # Grafana provisioning (fleetlens dashboards export --dir DIR)")
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
