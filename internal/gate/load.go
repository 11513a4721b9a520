package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/collector/query"
	"github.com/fleetlens/fleetlens/internal/gate/stats"
)

// UsageError is bad input (unknown app or release, equal releases, a baseline without
// data): the command exits 2 with its message.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// Request names what to judge.
type Request struct {
	App, Candidate, Baseline string
	Now                      time.Time // zero means time.Now()
}

// Data access: counts (requests, errors, sessions, crashes, ANRs, frames) come from the
// collector's rollups through collector/query. What that package does not offer is read here
// with parameterised SQL on the collector's tables (internal/pg/migrations/002_collector.sql):
// distribution samples with TTFB and start type, drawn with TABLESAMPLE SYSTEM at a rate
// computed from the rollup counts so a 10 M-span release is sampled instead of scanned
// (query.Durations numbers every matching row); distinct crashed sessions; the arrival-delay
// curve; and the device farm's results (003_farm.sql).

// Load reads both releases from PostgreSQL in one read-only, repeatable-read transaction.
func Load(ctx context.Context, pool *pgxpool.Pool, req Request, pol *Policy) (*Input, error) {
	if req.App == "" || req.Candidate == "" || req.Baseline == "" {
		return nil, usagef("--app, --candidate and --baseline are all required")
	}
	if req.Candidate == req.Baseline {
		return nil, usagef("candidate and baseline are the same release %q: compare a new release with the one it replaces", req.Candidate)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("gate: begin read transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The least-privilege read role (001/002 migrations): a bug here cannot write.
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE fleetlens_reader"); err != nil {
		return nil, fmt.Errorf("gate: switch to read-only role fleetlens_reader: %w", err)
	}
	if err := checkNames(ctx, tx, req); err != nil {
		return nil, err
	}
	q := query.New(pool)
	step := time.Now()
	lap := func(what string) {
		slog.Debug("gate: load", "step", what, "took", time.Since(step))
		step = time.Now()
	}
	in := &Input{App: req.App, Now: now, Baseline: ReleaseData{Release: req.Baseline}, Candidate: ReleaseData{Release: req.Candidate}}

	// Arrival curves: the delay (received - happened) within which the policy's share of a
	// release's data arrived. Data younger than that is still arriving and not judged, in
	// either release, so both are compared at the same completeness. The candidate's own
	// curve counts too (a release that buffers more arrives later); it only holds data that
	// has arrived so far, so it can only raise the delay, never hide lateness.
	d := time.Duration(0)
	for _, rd := range []*ReleaseData{&in.Baseline, &in.Candidate} {
		delays, err := sampleDelays(ctx, tx, req.App, rd.Release, pol)
		if err != nil {
			return nil, err
		}
		rd.Delays = delays
		if len(delays) > 0 {
			slices.Sort(delays)
			d = max(d, time.Duration(stats.Quantile(pol.Completeness.Quantile, delays)*float64(time.Second)))
		}
	}
	lap("arrival delays")
	d = min(max(d, 0), pol.Completeness.MaxDelay)
	in.ArrivalDelay = d.Round(time.Second)
	in.Horizon = now.Add(-in.ArrivalDelay).UTC().Truncate(time.Minute)

	for _, rd := range []*ReleaseData{&in.Baseline, &in.Candidate} {
		if err := loadCounts(ctx, q, tx, req.App, rd, in.Horizon, pol); err != nil {
			return nil, err
		}
	}
	lap("counts")
	if in.Baseline.Sessions == 0 && len(in.Baseline.Strata) == 0 {
		return nil, usagef("baseline %s of %s has no field data before %s: choose a baseline release that has shipped",
			req.Baseline, req.App, in.Horizon.Format(time.RFC3339))
	}
	for _, rd := range []*ReleaseData{&in.Baseline, &in.Candidate} {
		if err := loadSamples(ctx, tx, req.App, rd, in.Horizon, pol); err != nil {
			return nil, err
		}
	}
	lap("samples")
	for _, p := range []struct {
		rel string
		dst *[]CompatCell
	}{{req.Baseline, &in.CompatBaseline}, {req.Candidate, &in.CompatCandidate}} {
		cells, err := loadCompat(ctx, tx, req.App, p.rel)
		if err != nil {
			return nil, err
		}
		*p.dst = cells
	}
	lap("compat")
	return in, nil
}

func checkNames(ctx context.Context, tx pgx.Tx, req Request) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM apps WHERE id = $1)`, req.App).Scan(&ok); err != nil {
		return fmt.Errorf("gate: look up app %q: %w", req.App, err)
	}
	if !ok {
		var apps []string
		rows, _ := tx.Query(ctx, `SELECT id FROM apps ORDER BY id LIMIT 20`)
		apps, _ = pgx.CollectRows(rows, pgx.RowTo[string])
		return usagef("unknown app %q (known apps: %s)", req.App, listOrNone(apps))
	}
	rows, _ := tx.Query(ctx, `SELECT version FROM releases WHERE app_id = $1 ORDER BY first_seen DESC`, req.App)
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("gate: list releases of %s: %w", req.App, err)
	}
	for _, r := range []struct{ flag, v string }{{"--candidate", req.Candidate}, {"--baseline", req.Baseline}} {
		if !slices.Contains(known, r.v) {
			return usagef("%s %s: app %s has no release %q (known releases, newest first: %s)", r.flag, r.v, req.App, r.v, listOrNone(known[:min(len(known), 15)]))
		}
	}
	return nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func sampleDelays(ctx context.Context, tx pgx.Tx, app, rel string, pol *Policy) ([]float64, error) {
	var total int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(span_count), 0)::bigint FROM span_rollups WHERE app_id = $1 AND release = $2`,
		app, rel).Scan(&total); err != nil {
		return nil, fmt.Errorf("gate: span count of %s: %w", rel, err)
	}
	sample, args := "", []any{app, rel}
	if pct := 150 * float64(pol.MaxSamples) / math.Max(1, float64(total)); pct < 50 {
		sample = "TABLESAMPLE SYSTEM ($3) REPEATABLE (1)"
		args = append(args, pct)
	}
	// A uniform sample of all the release's spans (not the newest: late data is old data).
	rows, _ := tx.Query(ctx, `
SELECT extract(epoch FROM received_at - start_time)::float8
FROM spans `+sample+` WHERE app_id = $1 AND release = $2`, args...)
	d, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		return nil, fmt.Errorf("gate: arrival delays of %s: %w", rel, err)
	}
	return d, nil
}

// sampleStrataOf lists the strata a span's value is sampled into: overall and the policy's
// distribution_strata (distributions are judged nowhere else).
func sampleStrataOf(pol *Policy, model, osv, net, tier string) []Key {
	ks := []Key{Overall}
	for _, d := range pol.DistStrata {
		switch d {
		case DimNetTier:
			ks = append(ks, Key{DimNetTier, net + " × " + tier})
		case DimModel:
			ks = append(ks, Key{DimModel, model})
		case DimOS:
			ks = append(ks, Key{DimOS, osv})
		}
	}
	return ks
}

// strataOf lists the strata a row with these dimensions belongs to.
func strataOf(pol *Policy, model, osv, net, tier string) []Key {
	ks := []Key{Overall, {DimModel, model}} // model strata always: the per-model guardrails need them
	if pol.has(DimNetTier) {
		ks = append(ks, Key{DimNetTier, net + " × " + tier})
	}
	if pol.has(DimOS) {
		ks = append(ks, Key{DimOS, osv})
	}
	return ks
}

// loadCounts reads the rollup counts through the collector's query package (read-only role):
// request errors per stratum, sessions, crashes, ANRs and janky frames.
func loadCounts(ctx context.Context, q *query.Store, tx pgx.Tx, app string, rd *ReleaseData, horizon time.Time, pol *Policy) error {
	rels, err := q.Releases(ctx, app)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	for _, ri := range rels {
		if ri.Release == rd.Release {
			rd.FirstAny, rd.LastSeen = ri.FirstSeen, ri.LastSeen
			if ri.FirstSeen.Before(horizon) {
				rd.FirstSeen = ri.FirstSeen
			}
		}
	}
	judged := query.Filter{App: app, Release: rd.Release, From: time.Unix(0, 0), To: horizon}
	late := query.Filter{App: app, Release: rd.Release, From: horizon, To: horizon.AddDate(100, 0, 0)}
	spans, err := q.Spans(ctx, judged, query.Model, query.OSVersion, query.NetClass, query.Tier, query.Category)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	for _, st := range spans {
		if len(st.Group) != 5 || st.Group[4] != "http" {
			continue
		}
		for _, k := range strataOf(pol, st.Group[0], st.Group[1], st.Group[2], st.Group[3]) {
			s := rd.Stratum(k)
			c := s.Counts["request_error_rate"]
			s.Counts["request_error_rate"] = Count{c.Events + st.Errors, c.Exposure + st.Count}
		}
	}
	lateSpans, err := q.Spans(ctx, late)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	for _, st := range lateSpans {
		rd.Late += st.Count
	}
	events, err := q.Events(ctx, judged, query.Model, query.OSVersion, query.NetClass, query.Tier)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	type agg struct{ sessions, crashes, anr, slow, frozen, crashed int64 }
	per := map[Key]*agg{}
	get := func(k Key) *agg {
		a := per[k]
		if a == nil {
			a = &agg{}
			per[k] = a
		}
		return a
	}
	for _, e := range events {
		if len(e.Group) != 4 {
			continue
		}
		for _, k := range strataOf(pol, e.Group[0], e.Group[1], e.Group[2], e.Group[3]) {
			a := get(k)
			switch {
			case e.Name == "session.start":
				a.sessions += e.Count
				if k == Overall {
					rd.Sessions += e.Count
				}
			case e.Name == "app.crash":
				a.crashes += e.Count
			case e.Name == "app.anr" || (e.Name == "app.jank" && e.Class == "anr"):
				a.anr += e.Count
			case e.Name == "app.jank" && e.Class == "slow":
				a.slow += e.Count
			case e.Name == "app.jank" && e.Class == "frozen":
				a.frozen += e.Count
			}
		}
	}
	// Crash-free sessions need distinct sessions, which no rollup has: read them from the
	// raw crash events (few rows, through events_app_release_name_time).
	rows, _ := tx.Query(ctx, `
SELECT model, os_version, net_class, tier, count(DISTINCT session_id)::bigint
FROM events WHERE app_id = $1 AND release = $2 AND name = 'app.crash' AND time < $3
GROUP BY 1, 2, 3, 4`, app, rd.Release, horizon)
	var model, osv, net, tier string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&model, &osv, &net, &tier, &n}, func() error {
		for _, k := range strataOf(pol, model, osv, net, tier) {
			get(k).crashed += n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gate: crashed sessions of %s: %w", rd.Release, err)
	}
	for k, a := range per {
		s := rd.Stratum(k)
		// A crash or ANR ends or spoils one session; counts above the sessions (a stratum's
		// network class can change mid-session) are capped so the proportion stays valid.
		s.Counts["crash_rate"] = Count{min(a.crashes, a.sessions), a.sessions}
		s.Counts["anr_rate"] = Count{min(a.anr, a.sessions), a.sessions}
		s.Counts["crash_free_sessions"] = Count{min(a.crashed, a.sessions), a.sessions}
		s.Counts["slow_frame_rate"] = Count{a.slow, a.sessions}
		s.Counts["frozen_frame_rate"] = Count{a.frozen, a.sessions}
	}
	return nil
}

// minStratum is the smallest stratum that sets the sampling rate: strata below every
// metric's min_samples are not judged, so they need not be sampled fully.
const minStratum = 50

// loadSamples draws the distribution samples (request TTFB and total time, cold and warm
// start) of one release, at most pol.MaxSamples per stratum.
func loadSamples(ctx context.Context, tx pgx.Tx, app string, rd *ReleaseData, horizon time.Time, pol *Policy) error {
	// The smallest judged stratum of each category decides the sampling rate. Grouping
	// columns come from a fixed list (the policy's dimensions are validated), never user text.
	sets := []string{"()"}
	for _, d := range pol.DistStrata {
		sets = append(sets, map[string]string{DimNetTier: "(net_class, tier)", DimModel: "(model)", DimOS: "(os_version)"}[d])
	}
	rows, _ := tx.Query(ctx, `
SELECT category, min(n)::bigint, max(n)::bigint FROM (
  SELECT category, sum(span_count) AS n
  FROM span_rollups WHERE app_id = $1 AND release = $2 AND minute < $3 AND category IN ('http', 'app_start')
  GROUP BY category, GROUPING SETS (`+strings.Join(sets, ", ")+`) HAVING sum(span_count) >= $4) s
GROUP BY 1`, app, rd.Release, horizon, minStratum)
	var cat string
	var smallest, total int64
	rate := map[string]float64{}
	_, err := pgx.ForEachRow(rows, []any{&cat, &smallest, &total}, func() error {
		rate[cat] = min(100, 150*float64(pol.MaxSamples)/float64(smallest))
		return nil
	})
	if err != nil {
		return fmt.Errorf("gate: span counts of %s: %w", rd.Release, err)
	}
	res := map[Key]map[string]*reservoir{}
	seed := pol.Bootstrap.Seed ^ hash(rd.Release)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, cat := range []string{"http", "app_start"} {
		pct, ok := rate[cat]
		if !ok {
			pct = 100 // too few spans for any stratum to count: read them all (cheap)
		}
		sample := ""
		args := []any{app, rd.Release, horizon, cat}
		if pct < 50 {
			// SYSTEM samples whole pages: far cheaper than BERNOULLI's full scan; the rate
			// oversamples the smallest stratum by 1.5x to absorb page clustering.
			sample = "TABLESAMPLE SYSTEM ($5) REPEATABLE ($6)"
			args = append(args, pct, float64(seed%1000))
		}
		rows, _ := tx.Query(ctx, `
SELECT model, os_version, net_class, tier, start_type, duration_ms, coalesce(rtt_ms, -1)
FROM spans `+sample+`
WHERE app_id = $1 AND release = $2 AND start_time < $3 AND category = $4`, args...)
		var model, osv, net, tier, st string
		var dur, rtt float64
		_, err := pgx.ForEachRow(rows, []any{&model, &osv, &net, &tier, &st, &dur, &rtt}, func() error {
			for _, k := range sampleStrataOf(pol, model, osv, net, tier) {
				m := res[k]
				if m == nil {
					m = map[string]*reservoir{}
					res[k] = m
				}
				add := func(metric string, v float64) {
					r := m[metric]
					if r == nil {
						r = &reservoir{cap: pol.MaxSamples}
						m[metric] = r
					}
					r.add(rng, v)
				}
				if cat == "http" {
					add("request_duration", dur)
					if rtt > 0 {
						add("request_ttfb", rtt)
					}
				} else if st == "cold" {
					add("cold_start", dur)
				} else if st == "warm" {
					add("warm_start", dur)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("gate: sample %s spans of %s: %w", cat, rd.Release, err)
		}
	}
	for k, m := range res {
		s := rd.Stratum(k)
		for metric, r := range m {
			s.Samples[metric] = r.v
			// N: population estimate from the sampling rate, never below the sample size.
			s.N[metric] = max(int64(len(r.v)), r.seen)
		}
	}
	// Scale N for sampled categories: seen counts only sampled rows.
	for _, s := range rd.Strata {
		for metric := range s.N {
			cat := "http"
			if strings.Contains(metric, "start") {
				cat = "app_start"
			}
			if p, ok := rate[cat]; ok && p < 50 {
				s.N[metric] = int64(float64(s.N[metric]) * 100 / p)
			}
		}
	}
	return nil
}

// reservoir keeps a uniform sample of at most cap values (Vitter's algorithm R).
type reservoir struct {
	cap  int
	seen int64
	v    []float64
}

func (r *reservoir) add(rng *rand.Rand, x float64) {
	r.seen++
	if len(r.v) < r.cap {
		r.v = append(r.v, x)
		return
	}
	if j := rng.Int64N(r.seen); j < int64(r.cap) {
		r.v[j] = x
	}
}

// loadCompat reads the device farm's results of the release's latest finished run of each
// platform and suite name (a release is typically checked by one Android and one iOS suite): per (model, OS
// version) attempts passed / failed, crashes and ANRs seen, flaky tests, and the names of
// failing tests. A flaky test's failed attempts count as flakiness, not as failures, so a
// test that failed once and then passed is never a "new failure"; it is flaky only in the
// (model, OS) cells where it failed. No farm tables or no
// run: nil.
func loadCompat(ctx context.Context, tx pgx.Tx, app, rel string) ([]CompatCell, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('farm_attempts') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, _ := tx.Query(ctx, `
WITH run AS (
  SELECT DISTINCT ON (platform, name) id FROM farm_runs
  WHERE app_id = $1 AND release = $2 AND finished_at IS NOT NULL AND state <> 'cancelled'
  ORDER BY platform, name, finished_at DESC)
SELECT a.model, a.os_version,
       count(*) FILTER (WHERE a.status = 'passed'),
       count(*) FILTER (WHERE a.status IN ('failed', 'error') AND t.status <> 'flaky'),
       count(DISTINCT a.run_test_id) FILTER (WHERE t.status = 'flaky' AND a.status IN ('failed', 'error')),
       count(*) FILTER (WHERE a.crash_kind = 'crash'),
       count(*) FILTER (WHERE a.crash_kind = 'anr'),
       coalesce(array_agg(DISTINCT t.class || '.' || t.method) FILTER (WHERE a.status IN ('failed', 'error') AND t.status <> 'flaky'), '{}')
FROM farm_attempts a JOIN farm_run_tests t ON t.id = a.run_test_id
WHERE a.run_id IN (SELECT id FROM run) AND a.status <> 'infra'
GROUP BY 1, 2 ORDER BY 1, 2`, app, rel)
	cells, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CompatCell, error) {
		var c CompatCell
		err := r.Scan(&c.Model, &c.OSVersion, &c.Passed, &c.Failed, &c.Flaky, &c.Crashes, &c.ANRs, &c.FailedTests)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("gate: farm results of %s: %w", rel, err)
	}
	return cells, nil
}

// IsUsage reports whether err is bad input rather than an internal failure.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}
