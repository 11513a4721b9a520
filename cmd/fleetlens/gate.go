package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/internal/gate"
	"github.com/fleetlens/fleetlens/internal/pg"
)

func newGateCmd() *cobra.Command {
	var (
		req         gate.Request
		policyPath  string
		format, out string
		noSave      bool
		showPolicy  bool
		asOf        string
	)
	cmd := &cobra.Command{
		Use:   "gate --app ID --candidate V --baseline V",
		Short: "Release gate: candidate vs baseline verdict (exit 0 pass, 1 fail, 3 inconclusive)",
		Long: `Judge a candidate release against a baseline on field data from the collector
(latency, errors, starts, frames, ANRs, crashes per network class x device tier, model and OS
version) and device-farm compatibility results, and print one verdict with a report.

Exit codes: 0 pass, 1 fail (or marginal, unless the policy says marginal_is: pass),
2 usage or internal error, 3 inconclusive (not enough data yet; the report says when to retry).
The verdict is also stored for the TUI and dashboards (--no-save to skip).`,
		Example: `  fleetlens gate --app com.example.shop --candidate 2.3.0 --baseline 2.2.0
  fleetlens gate --app com.example.shop --candidate 2.3.0 --baseline 2.2.0 --format html --out gate.html
  fleetlens gate --default-policy > policy.yaml   # then edit and pass --policy policy.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if showPolicy {
				_, err := cmd.OutOrStdout().Write(gate.DefaultPolicyYAML())
				return err
			}
			if !slices.Contains(gate.Formats, format) {
				return withExitCode(2, fmt.Errorf("--format %q: want %s", format, strings.Join(gate.Formats, ", ")))
			}
			var missing []string
			for _, f := range []struct{ name, v string }{{"--app", req.App}, {"--candidate", req.Candidate}, {"--baseline", req.Baseline}} {
				if f.v == "" {
					missing = append(missing, f.name)
				}
			}
			if len(missing) > 0 {
				return withExitCode(2, fmt.Errorf("missing %s (see fleetlens gate --help)", strings.Join(missing, ", ")))
			}
			if req.Candidate == req.Baseline {
				return withExitCode(2, fmt.Errorf("--candidate and --baseline are both %q: compare a new release with the one it replaces", req.Candidate))
			}
			if asOf != "" {
				at, err := time.Parse(time.RFC3339, asOf)
				if err != nil {
					return withExitCode(2, fmt.Errorf("--as-of %q: want an RFC 3339 time such as 2026-12-01T18:00:00Z", asOf))
				}
				req.Now = at
			}
			pol := gate.DefaultPolicy()
			if policyPath != "" {
				p, err := gate.LoadPolicy(policyPath)
				if err != nil {
					return withExitCode(2, err)
				}
				pol = p
			}
			ctx := cmd.Context()
			pool, err := pg.Open(ctx, global.db)
			if err != nil {
				return withExitCode(2, err)
			}
			defer pool.Close()
			in, err := gate.Load(ctx, pool, req, pol)
			if err != nil {
				return withExitCode(2, err)
			}
			rep := gate.Judge(in, pol)
			var buf bytes.Buffer
			if err := gate.Render(&buf, rep, format); err != nil {
				return withExitCode(2, err)
			}
			if out == "" || out == "-" {
				if _, err := cmd.OutOrStdout().Write(buf.Bytes()); err != nil {
					return withExitCode(2, err)
				}
			} else {
				if err := writeFileAtomic(out, buf.Bytes()); err != nil {
					return withExitCode(2, fmt.Errorf("--out %s: %w", out, err))
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s (report written to %s)\n", strings.ToUpper(rep.Verdict), rep.Summary, out)
			}
			if !noSave {
				if _, err := gate.Save(ctx, pool, rep); err != nil {
					return withExitCode(2, err)
				}
			}
			if rep.ExitCode != 0 {
				return withExitCode(rep.ExitCode, nil)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.App, "app", "", "application id (package name / bundle id)")
	f.StringVar(&req.Candidate, "candidate", "", "release being rolled out")
	f.StringVar(&req.Baseline, "baseline", "", "release it replaces")
	f.StringVar(&policyPath, "policy", "", "policy YAML (default: the shipped policy, see --default-policy)")
	f.StringVar(&format, "format", "text", "report format: text, md, html or json")
	f.StringVarP(&out, "out", "o", "", "write the report to FILE instead of stdout")
	f.BoolVar(&noSave, "no-save", false, "do not record the verdict in the database")
	f.BoolVar(&showPolicy, "default-policy", false, "print the shipped policy YAML and exit")
	f.StringVar(&asOf, "as-of", "", "judge as at this RFC 3339 time (default now), e.g. to reproduce an earlier verdict")
	return cmd
}

// writeFileAtomic writes via a temporary file and rename so a reader never sees half a report.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil { // a report is for sharing, not a secret
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
