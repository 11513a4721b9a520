package results

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// CompatRow is one (model, OS version) group of a run.
type CompatRow struct {
	Model, OSVersion             string
	Tests, Passed, Failed, Flaky int
	NewFailures                  []string // Class#method failing here that passed on the baseline
}

// Compat reads the compatibility summary of a run; with a baseline release, tests failing
// on a (model, OS) group that passed there in the baseline's latest finished run of the same
// app and suite are listed as new failures.
func Compat(ctx context.Context, q Querier, runID int64, baseline string) ([]CompatRow, error) {
	rows, err := q.Query(ctx, `SELECT model, os_version, tests, passed, failed, flaky FROM farm_compat
		WHERE run_id = $1 ORDER BY model, os_version`, runID)
	if err != nil {
		return nil, fmt.Errorf("compat summary of run %d: %w", runID, err)
	}
	var out []CompatRow
	idx := map[string]int{}
	for rows.Next() {
		var r CompatRow
		if err := rows.Scan(&r.Model, &r.OSVersion, &r.Tests, &r.Passed, &r.Failed, &r.Flaky); err != nil {
			rows.Close()
			return nil, fmt.Errorf("compat summary of run %d: %w", runID, err)
		}
		idx[r.Model+"|"+r.OSVersion] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil || baseline == "" {
		return out, err
	}
	rows, err = q.Query(ctx, `
		WITH cur AS (SELECT app_id, name FROM farm_runs WHERE id = $1),
		     base AS (SELECT r.id FROM farm_runs r, cur WHERE r.app_id = cur.app_id AND r.name = cur.name
		               AND r.release = $2 AND r.state IN ('passed', 'failed') ORDER BY r.finished_at DESC LIMIT 1),
		     fails AS (SELECT DISTINCT a.model, a.os_version, t.class, t.method FROM farm_attempts a
		                 JOIN farm_run_tests t ON t.id = a.run_test_id
		                WHERE a.run_id = $1 AND t.status IN ('failed', 'error') AND a.status IN ('failed', 'error'))
		SELECT f.model, f.os_version, f.class || '#' || f.method FROM fails f
		 WHERE EXISTS (SELECT 1 FROM farm_attempts b JOIN farm_run_tests bt ON bt.id = b.run_test_id
		                WHERE b.run_id = (SELECT id FROM base) AND bt.class = f.class AND bt.method = f.method
		                  AND b.model = f.model AND b.os_version = f.os_version AND bt.status IN ('passed', 'flaky'))
		 ORDER BY 1, 2, 3`, runID, baseline)
	if err != nil {
		return nil, fmt.Errorf("new failures of run %d vs %s: %w", runID, baseline, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m, o, t string
		if err := rows.Scan(&m, &o, &t); err != nil {
			return nil, err
		}
		if i, ok := idx[m+"|"+o]; ok {
			out[i].NewFailures = append(out[i].NewFailures, t)
		}
	}
	return out, rows.Err()
}

// Counts totals a run's verdicts.
type Counts struct{ Total, Passed, Failed, Flaky, Errored, Skipped, Attempts, Infra int }

// Count tallies verdicts and attempts.
func (r *Run) Count() Counts {
	var c Counts
	for _, t := range r.Tests {
		c.Total++
		c.Attempts += len(t.Attempts)
		for _, a := range t.Attempts {
			if a.Status == "infra" {
				c.Infra++
			}
		}
		switch t.Status {
		case "passed":
			c.Passed++
		case "failed":
			c.Failed++
		case "flaky":
			c.Flaky++
		case "skipped":
			c.Skipped++
		default:
			c.Errored++
		}
	}
	return c
}

// WriteSummary writes the human summary: counts, failures with where they failed, flaky
// tests, and the compatibility table.
func WriteSummary(w io.Writer, r *Run, compat []CompatRow) {
	c := r.Count()
	dur := time.Duration(0)
	if r.StartedAt != nil && r.FinishedAt != nil {
		dur = r.FinishedAt.Sub(*r.StartedAt).Round(time.Second)
	}
	fmt.Fprintf(w, "run %d %s (%s %s): %s in %v\n", r.ID, r.Name, r.AppID, r.Release, strings.ToUpper(r.State), dur)
	fmt.Fprintf(w, "  %d tests: %d passed, %d failed, %d flaky, %d error, %d skipped; %d attempts (%d infrastructure)\n",
		c.Total, c.Passed, c.Failed, c.Flaky, c.Errored, c.Skipped, c.Attempts, c.Infra)
	var failed, flaky []string
	for _, t := range r.Tests {
		var where []string
		for _, a := range t.Attempts {
			if a.Status == "failed" || a.Status == "error" {
				where = append(where, a.Model+"/"+a.OSVersion)
			}
		}
		line := fmt.Sprintf("    %s#%s  %s  [%s]", t.Class, t.Name(), firstLine(t.Message), strings.Join(dedup(where), ", "))
		switch t.Status {
		case "failed", "error":
			failed = append(failed, line)
		case "flaky":
			flaky = append(flaky, line)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintln(w, "  failures:")
		fmt.Fprintln(w, strings.Join(failed, "\n"))
	}
	if len(flaky) > 0 {
		fmt.Fprintln(w, "  flaky (failed, then passed on retry):")
		fmt.Fprintln(w, strings.Join(flaky, "\n"))
	}
	if len(compat) > 0 {
		fmt.Fprintln(w, "  compatibility:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    MODEL\tOS\tTESTS\tPASS\tFAIL\tFLAKY\tNEW FAILURES")
		for _, row := range compat {
			fmt.Fprintf(tw, "    %s\t%s\t%d\t%d\t%d\t%d\t%s\n", row.Model, row.OSVersion, row.Tests, row.Passed, row.Failed, row.Flaky,
				strings.Join(row.NewFailures, " "))
		}
		tw.Flush()
	}
}

func dedup(s []string) []string {
	sort.Strings(s)
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
