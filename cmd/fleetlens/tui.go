package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/internal/pg"
	"github.com/fleetlens/fleetlens/tui"
	"github.com/fleetlens/fleetlens/tui/data"
)

func newTUICmd() *cobra.Command {
	var (
		readOnly bool
		mouse    bool
		logFile  string
		suites   string
		export   string
	)
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Terminal UI: fleet, runs and regressions",
		Long: `A full-screen terminal app over the fleetlens database: every device across all hosts
(sortable, / to filter, grouped by host or model), device health and attempts, the farm's
runs with progress, failures by (model, OS) and per test, starting and cancelling runs, and
the release gate's verdicts. Live through PostgreSQL LISTEN/NOTIFY; reconnects on its own.
Press ? inside for every key. Logs go to --log-file, never to the terminal.`,
		Example: "  fleetlens tui\n  fleetlens tui --read-only --db postgres://reader@db/fleetlens\n  fleetlens tui --suites ./suites",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTUI(cmd.Context(), tui.Options{ReadOnly: readOnly, Mouse: mouse, SuiteDir: suites, ExportDir: export}, logFile)
		},
	}
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "disable starting and cancelling runs (for release managers)")
	cmd.Flags().BoolVar(&mouse, "mouse", false, "enable the mouse (wheel scrolls lists; the terminal's text selection then needs shift)")
	cmd.Flags().StringVar(&logFile, "log-file", "", "log file (default $FLEETLENS_HOME/logs/tui.log)")
	cmd.Flags().StringVar(&suites, "suites", ".", "directory the suite file picker starts in")
	cmd.Flags().StringVar(&export, "export-dir", ".", "directory exported gate reports are written to")
	return cmd
}

func runTUI(ctx context.Context, opts tui.Options, logFile string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if logFile == "" {
		logFile = filepath.Join(pg.DefaultHome(), "logs", "tui.log")
	}
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return withExitCode(2, fmt.Errorf("--log-file %s: %w", logFile, err))
	}
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return withExitCode(2, fmt.Errorf("--log-file %s: %w", logFile, err))
	}
	defer lf.Close()
	// The terminal belongs to the screen: everything logged from here on goes to the file.
	slog.SetDefault(slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if st, err := os.Stat(opts.SuiteDir); err != nil || !st.IsDir() {
		return withExitCode(2, fmt.Errorf("--suites %s: not a directory", opts.SuiteDir))
	}
	if st, err := os.Stat(opts.ExportDir); err != nil || !st.IsDir() {
		return withExitCode(2, fmt.Errorf("--export-dir %s: not a directory", opts.ExportDir))
	}

	dsn, src, err := pg.Resolve(ctx, global.db)
	if err != nil {
		return withExitCode(2, err)
	}
	if src == pg.FromManaged {
		// Our own local cluster: bring its schema up to date so a first `fleetlens tui` works.
		if _, _, err := pg.Migrate(ctx, dsn); err != nil {
			return withExitCode(2, fmt.Errorf("migrate the managed cluster: %w", err))
		}
	}
	source, err := data.NewPG(data.Config{DSN: dsn})
	if err != nil {
		return withExitCode(2, fmt.Errorf("%s: %w", src, err))
	}
	if err := source.Start(ctx); err != nil {
		return err
	}
	defer source.Shutdown(context.Background())
	opts.Src = source
	opts.DB = fmt.Sprintf("%s (from %s)", pg.Redact(dsn), src)
	opts.Farm, opts.Gate = tuiActions(source, opts.ReadOnly)
	slog.Info("tui: start", "db", pg.Redact(dsn), "read_only", opts.ReadOnly)
	_, err = tea.NewProgram(tui.New(opts), tea.WithContext(ctx)).Run()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("tui: %w", err)
	}
	return nil
}

// tuiActions wires the farm (start/cancel, disabled in read-only mode) and the gate.
func tuiActions(src *data.PG, readOnly bool) (data.Farm, data.Gate) {
	g := &data.GateAdapter{Pool: src.Pool(), Save: !readOnly}
	if readOnly {
		return nil, g
	}
	return data.NewFarm(src.Pool()), g
}
