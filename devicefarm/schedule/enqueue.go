package schedule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Blob is a binary (APK/IPA) shipped to agents through farm_blobs.
type Blob struct {
	Name string
	Data []byte
}

// SHA256 is the blob's content address.
func (b Blob) SHA256() string {
	s := sha256.Sum256(b.Data)
	return hex.EncodeToString(s[:])
}

// DeviceRef is one selected device and its matrix group.
type DeviceRef struct {
	Serial string
	Group  string // model|os_version
}

// Preventive configures up-front copies of historically flaky tests.
type Preventive struct {
	Target    float64 // wanted probability that a flaky test gets a passing copy, e.g. 0.99
	MaxCopies int     // cap on copies per test
}

// RunSpec is everything Enqueue needs; cmd builds it from a validated suite.
type RunSpec struct {
	SuiteName, SuitePath, SuiteSource string
	SuiteSpec                         any // normalised suite, stored as JSON

	AppID, Release, Baseline, Platform string
	App, TestApp                       *Blob
	TestAppID, Runner                  string

	Tests    []TestKey
	Profiles []string // network profiles; "" means unshaped. Empty list = [""].
	// Profiled, when set, limits the non-empty profiles to these tests.
	Profiled map[TestKey]bool
	Devices  []DeviceRef
	Matrix   bool // every test on every (model, OS) group

	TestTimeout, RunTimeout time.Duration
	MaxRetries, RetryBudget int
	InfraMax                int
	Preventive              Preventive
	Priority                int
	Weight                  float64
	Reserve                 int // devices to reserve for this run until it ends
	Config                  map[string]any
	History                 HistoryConfig
	Plan                    PlanConfig
}

// ErrNoDevices: the selection matched nothing; nothing was queued.
var ErrNoDevices = errors.New("the device selection matches no device")

// Enqueued describes what Enqueue created.
type Enqueued struct {
	RunID      int64
	Tests      int // farm_run_tests rows
	Items      int
	Preventive int // extra copies queued up front
	Expected   time.Duration
}

// Enqueue stores the run and its queue in one transaction: either all of it is queued or
// nothing is.
func Enqueue(ctx context.Context, pool *pgxpool.Pool, spec RunSpec) (Enqueued, error) {
	var out Enqueued
	if len(spec.Devices) == 0 {
		return out, ErrNoDevices
	}
	if len(spec.Tests) == 0 {
		return out, errors.New("the suite selects no test")
	}
	if spec.AppID == "" || spec.Release == "" {
		return out, errors.New("enqueue: app id and release are required")
	}
	profiles := spec.Profiles
	if len(profiles) == 0 {
		profiles = []string{""}
	}
	if spec.Weight <= 0 {
		spec.Weight = 1
	}
	if spec.InfraMax <= 0 {
		spec.InfraMax = 3
	}
	if spec.MaxRetries < 0 {
		spec.MaxRetries = 0
	}
	hist, err := History(ctx, pool, spec.AppID, spec.History)
	if err != nil {
		return out, err
	}
	hcfg := spec.History.withDefaults()

	groups := []string{""}
	if spec.Matrix {
		seen := map[string]bool{}
		groups = groups[:0]
		for _, d := range spec.Devices {
			if !seen[d.Group] {
				seen[d.Group] = true
				groups = append(groups, d.Group)
			}
		}
	}
	var classes, methods, profs, grps []string
	var expected []int32
	var copies []int32
	for _, g := range groups {
		for _, p := range profiles {
			for _, t := range spec.Tests {
				if p != "" && spec.Profiled != nil && !spec.Profiled[t] {
					continue
				}
				st, ok := hist[t]
				if !ok {
					st = Stats{Expected: hcfg.Default}
				}
				n := 1
				if spec.Preventive.Target > 0 && st.FailRate > 0 {
					n = PreventiveCopies(st.FailRate, spec.Preventive.Target, max(1, spec.Preventive.MaxCopies))
				}
				classes = append(classes, t.Class)
				methods = append(methods, t.Method)
				profs = append(profs, p)
				grps = append(grps, g)
				expected = append(expected, int32(st.Expected/time.Millisecond))
				copies = append(copies, int32(n))
			}
		}
	}
	if spec.RetryBudget <= 0 {
		spec.RetryBudget = max(10, len(classes)/10)
	}
	cfgJSON, err := json.Marshal(spec.Config)
	if err != nil {
		return out, fmt.Errorf("enqueue: config: %w", err)
	}
	specJSON, err := json.Marshal(spec.SuiteSpec)
	if err != nil {
		return out, fmt.Errorf("enqueue: suite spec: %w", err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("enqueue: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	var appSHA, testSHA *string
	for _, b := range []struct {
		blob *Blob
		dst  **string
	}{{spec.App, &appSHA}, {spec.TestApp, &testSHA}} {
		if b.blob == nil {
			continue
		}
		sum := b.blob.SHA256()
		if _, err := tx.Exec(ctx, `INSERT INTO farm_blobs (sha256, size, name, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (sha256) DO NOTHING`, sum, len(b.blob.Data), b.blob.Name, b.blob.Data); err != nil {
			return out, fmt.Errorf("enqueue: store %s: %w", b.blob.Name, err)
		}
		*b.dst = &sum
	}
	if _, err := tx.Exec(ctx, `INSERT INTO apps (id) VALUES ($1) ON CONFLICT DO NOTHING`, spec.AppID); err != nil {
		return out, fmt.Errorf("enqueue: app %s: %w", spec.AppID, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO releases (app_id, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`, spec.AppID, spec.Release); err != nil {
		return out, fmt.Errorf("enqueue: release %s: %w", spec.Release, err)
	}
	var suiteID int64
	if err := tx.QueryRow(ctx, `INSERT INTO farm_suites (name, source_path, source, spec) VALUES ($1, $2, $3, $4) RETURNING id`,
		spec.SuiteName, spec.SuitePath, spec.SuiteSource, specJSON).Scan(&suiteID); err != nil {
		return out, fmt.Errorf("enqueue: suite: %w", err)
	}
	var deadline *time.Time
	if spec.RunTimeout > 0 {
		d := time.Now().Add(spec.RunTimeout)
		deadline = &d
	}
	platform := spec.Platform
	if platform == "" {
		platform = "android"
	}
	appName, testName := "", ""
	if spec.App != nil {
		appName = spec.App.Name
	}
	if spec.TestApp != nil {
		testName = spec.TestApp.Name
	}
	err = tx.QueryRow(ctx, `INSERT INTO farm_runs (suite_id, name, app_id, release, baseline_release, platform, priority,
			weight, app_sha256, app_name, test_app_sha256, test_app_name, test_app_id, runner, test_timeout_ms,
			max_retries, retry_budget, infra_max, config, total_tests, deadline)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21) RETURNING id`,
		suiteID, spec.SuiteName, spec.AppID, spec.Release, spec.Baseline, platform, spec.Priority, spec.Weight,
		appSHA, appName, testSHA, testName, spec.TestAppID, spec.Runner, int(spec.TestTimeout/time.Millisecond),
		spec.MaxRetries, spec.RetryBudget, spec.InfraMax, cfgJSON, len(classes), deadline).Scan(&out.RunID)
	if err != nil {
		return out, fmt.Errorf("enqueue: run: %w", err)
	}
	serials := make([]string, len(spec.Devices))
	dgroups := make([]string, len(spec.Devices))
	for i, d := range spec.Devices {
		serials[i], dgroups[i] = d.Serial, d.Group
	}
	if _, err := tx.Exec(ctx, `INSERT INTO farm_run_devices (run_id, serial, group_key)
		SELECT $1, s, g FROM unnest($2::text[], $3::text[]) AS u(s, g)`, out.RunID, serials, dgroups); err != nil {
		return out, fmt.Errorf("enqueue: run devices: %w", err)
	}
	rows, err := tx.Query(ctx, `INSERT INTO farm_run_tests (run_id, class, method, profile, group_key, expected_ms, copies, outstanding)
		SELECT $1, c, m, p, g, e, n, n FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[])
		       WITH ORDINALITY AS u(c, m, p, g, e, n, o)
		 ORDER BY o RETURNING id`, out.RunID, classes, methods, profs, grps, expected, copies)
	if err != nil {
		return out, fmt.Errorf("enqueue: tests: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return out, fmt.Errorf("enqueue: tests: %w", err)
	}
	if len(ids) != len(classes) {
		return out, fmt.Errorf("enqueue: stored %d of %d tests", len(ids), len(classes))
	}
	out.Tests = len(ids)

	var plan []PlanTest
	var extra []Item
	for i := range ids {
		e := time.Duration(expected[i]) * time.Millisecond
		out.Expected += e * time.Duration(copies[i])
		plan = append(plan, PlanTest{Ref: i, Expected: e, Profile: profs[i], Group: grps[i]})
		for c := 1; c < int(copies[i]); c++ {
			// Preventive copies are single items so they land on other devices in parallel.
			extra = append(extra, Item{Kind: "preventive", Refs: []int{i}, Expected: e, Profile: profs[i], Group: grps[i], Priority: 10})
			out.Preventive++
		}
	}
	pc := spec.Plan
	if pc.Devices == 0 {
		pc.Devices = len(spec.Devices)
	}
	items := append(Plan(plan, pc), extra...)
	var kinds, iprofs []string
	var igroups []*string
	var iexp, iprio []int32
	var itests []string // postgres array literals, one per item
	for _, it := range items {
		kinds = append(kinds, it.Kind)
		iprofs = append(iprofs, it.Profile)
		if it.Group != "" {
			g := it.Group
			igroups = append(igroups, &g)
		} else {
			igroups = append(igroups, nil)
		}
		iexp = append(iexp, int32(it.Expected/time.Millisecond))
		iprio = append(iprio, int32(it.Priority))
		b, _ := json.Marshal(refsToIDs(it.Refs, ids))
		itests = append(itests, string(b))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO farm_work_items (run_id, kind, tests, expected_ms, profile, group_key, priority)
		SELECT $1, k, ARRAY(SELECT jsonb_array_elements_text(t::jsonb)::bigint), e, p, g, pr
		  FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::int[]) AS u(k, t, e, p, g, pr)`,
		out.RunID, kinds, itests, iexp, iprofs, igroups, iprio); err != nil {
		return out, fmt.Errorf("enqueue: work items: %w", err)
	}
	out.Items = len(items)
	if spec.Reserve > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO farm_reservations (run_id, serial, ends_at)
			SELECT $1, serial, now() + interval '7 days' FROM farm_run_devices rd
			 WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM farm_reservations r JOIN farm_runs o ON o.id = r.run_id
			        WHERE r.serial = rd.serial AND o.state IN ('queued','running') AND r.ends_at > now())
			 ORDER BY serial LIMIT $2`, out.RunID, spec.Reserve); err != nil {
			return out, fmt.Errorf("enqueue: reserve devices: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("enqueue: commit: %w", err)
	}
	return out, nil
}

func refsToIDs(refs []int, ids []int64) []int64 {
	out := make([]int64, len(refs))
	for i, r := range refs {
		out[i] = ids[r]
	}
	return out
}
