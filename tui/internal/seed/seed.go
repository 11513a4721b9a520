// Package seed fills a test database the way the farm and the gate would: devices from the
// shared catalog registered on hosts, runs enqueued with devicefarm/schedule and executed
// through its Queue (claim, record, complete), and a gate verdict judged and saved by
// internal/gate. Timestamps are pinned to T0 so screens are reproducible in golden files.
package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
	"github.com/fleetlens/fleetlens/internal/gate"
)

// T0 is the pinned "now" of seeded data.
var T0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// App is the seeded app.
const App = "com.example.shop"

var states = []string{"idle", "idle", "idle", "busy", "idle", "offline", "idle", "draining", "idle", "quarantined"}

// Devices registers android+ios devices on hosts (as agents would at discovery) and returns
// their serials. Every device starts idle and healthy; SetStates varies them afterwards.
func Devices(ctx context.Context, pool *pgxpool.Pool, android, ios, hosts int) ([]string, error) {
	for h := 0; h < hosts; h++ {
		id := fmt.Sprintf("host-%c", 'a'+h)
		// Hosts heartbeat in real time (the farm reaps silent hosts' devices to offline).
		if _, err := pool.Exec(ctx, `INSERT INTO hosts (id, hostname, agent_version)
			VALUES ($1, $2, 'test') ON CONFLICT DO NOTHING`, id, id+".lab"); err != nil {
			return nil, fmt.Errorf("seed host %s: %w", id, err)
		}
	}
	var serials []string
	fleet := append(catalog.Fleet(catalog.Android, android, "tui"), catalog.Fleet(catalog.IOS, ios, "tui")...)
	rows := make([][]any, 0, len(fleet))
	for i, inst := range fleet {
		m := inst.Model
		model := m.Name
		api := 0
		if m.Platform == catalog.Android {
			api = catalog.AndroidAPILevel(inst.OSVersion)
		}
		batt := 20 + (i*37)%80
		temp := 25 + float64((i*13)%20)
		rows = append(rows, []any{inst.Serial, string(m.Platform), fmt.Sprintf("host-%c", 'a'+i%hosts),
			m.Manufacturer, model, m.ProductType, inst.OSVersion, api, m.ABI, m.RAMMB, m.CPUCores,
			m.CPUMaxMHz, m.Screen, batt, temp, T0.Add(-time.Duration(i%7) * time.Second)})
		serials = append(serials, inst.Serial)
	}
	for _, r := range rows {
		if _, err := pool.Exec(ctx, `INSERT INTO devices (serial, platform, host_id, manufacturer, model,
			product_type, os_version, api_level, abi, ram_mb, cpu_cores, cpu_max_mhz, screen,
			battery_level, temperature_c, last_health, last_seen, first_seen)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$16,$16)`, r...); err != nil {
			return nil, fmt.Errorf("seed device %s: %w", r[0], err)
		}
	}
	return serials, nil
}

// Health writes n readings per device, one a minute up to T0 (what the agent's health loop
// records).
func Health(ctx context.Context, pool *pgxpool.Pool, serials []string, n int) error {
	for i, s := range serials {
		for k := 0; k < n; k++ {
			batt := 100 - k*3 - i%10
			temp := 28 + float64((k*7+i)%12)
			ok := !(i%10 == 9 && k == n-1)
			reason := ""
			if !ok {
				reason = "battery temperature 44°C over 42°C"
			}
			if _, err := pool.Exec(ctx, `INSERT INTO farm_device_health (serial, host_id, at, battery_level,
				charging, temperature_c, free_storage_mb, booted, responsive, ok, reason)
				VALUES ($1, '', $2, $3, false, $4, 4096, true, true, $5, $6)`,
				s, T0.Add(-time.Duration(n-1-k)*time.Minute), batt, temp, ok, reason); err != nil {
				return fmt.Errorf("seed health %s: %w", s, err)
			}
		}
	}
	return nil
}

// Tests returns n test keys of a shop app.
func Tests(n int) []schedule.TestKey {
	classes := []string{"com.example.shop.LoginTest", "com.example.shop.CartTest", "com.example.shop.CheckoutTest"}
	var ts []schedule.TestKey
	for i := 0; i < n; i++ {
		ts = append(ts, schedule.TestKey{Class: classes[i%len(classes)], Method: fmt.Sprintf("test%02d", i)})
	}
	return ts
}

// Enqueue queues a run of tests on the given devices through the farm's Enqueue.
func Enqueue(ctx context.Context, pool *pgxpool.Pool, release, baseline string, serials []string, tests []schedule.TestKey) (int64, error) {
	var refs []schedule.DeviceRef
	rows, err := pool.Query(ctx, `SELECT serial, model || '|' || os_version FROM devices WHERE serial = ANY ($1) ORDER BY serial`, serials)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var r schedule.DeviceRef
		if err := rows.Scan(&r.Serial, &r.Group); err != nil {
			return 0, err
		}
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	e, err := schedule.Enqueue(ctx, pool, schedule.RunSpec{
		SuiteName: "smoke", SuitePath: "suites/smoke.yaml", SuiteSource: "name: smoke\n",
		SuiteSpec: map[string]any{"name": "smoke"}, AppID: App, Release: release, Baseline: baseline,
		Platform: "android", Tests: tests, Devices: refs, MaxRetries: 1, RetryBudget: 10,
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", release, err)
	}
	return e.RunID, nil
}

// Execute runs up to maxItems claimable items on serials through the farm's Queue, failing
// every test but test00 on devices of model failModel ("first": the first claimer's model); with leaveOpen the last claim stays
// leased (the device shows busy on a test). It returns the items run.
func Execute(ctx context.Context, pool *pgxpool.Pool, serials []string, failModel string, maxItems int, leaveOpen bool) (int, error) {
	models := map[string]string{}
	rows, err := pool.Query(ctx, `SELECT serial, model FROM devices WHERE serial = ANY ($1)`, serials)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var s, m string
		if err := rows.Scan(&s, &m); err != nil {
			return 0, err
		}
		models[s] = m
	}
	q := &schedule.Queue{DB: pool, HostID: "host-a", TTL: time.Hour}
	first := failModel == "first"
	if _, err := q.Heartbeat(ctx); err != nil {
		return 0, err
	}
	items := 0
	for idle := 0; idle < 2 && items < maxItems; {
		progressed := false
		for _, s := range serials {
			if items >= maxItems {
				break
			}
			l, err := q.Claim(ctx, s)
			if err != nil {
				return items, err
			}
			if l == nil {
				continue
			}
			progressed = true
			items++
			if first {
				failModel, first = models[s], false
			}
			if leaveOpen && items == maxItems {
				return items, nil
			}
			for i, ct := range l.Tests {
				a := schedule.Attempt{TestID: ct.ID, Status: "passed", Duration: time.Duration(800+i*130) * time.Millisecond,
					StartedAt: T0.Add(-time.Hour), LogExcerpt: fmt.Sprintf("I/TestRunner: started: %s#%s\nI/TestRunner: finished: %s#%s", ct.Class, ct.Method, ct.Class, ct.Method)}
				if failModel != "" && models[s] == failModel && ct.Method != "test00" {
					a.Status = "failed"
					a.Message = "java.lang.AssertionError: checkout button not visible"
					a.Stack = "at com.example.shop.CheckoutTest.pay(CheckoutTest.java:42)"
					a.ArtifactDir = fmt.Sprintf("/var/lib/fleetlens/artifacts/%d/%s", l.RunID, s)
					a.Screenshot = a.ArtifactDir + "/" + ct.Method + ".png"
				}
				if _, err := q.Record(ctx, l, a); err != nil {
					return items, err
				}
			}
			if err := q.Complete(ctx, l); err != nil {
				return items, err
			}
		}
		if !progressed {
			idle++
		}
	}
	return items, nil
}

// SetStates varies device states as agents report them (offline, draining, quarantined),
// leaving busy devices alone.
func SetStates(ctx context.Context, pool *pgxpool.Pool, serials []string) error {
	for i, s := range serials {
		st := states[i%len(states)]
		if st == "busy" || st == "idle" {
			continue
		}
		reason := ""
		if st == "quarantined" {
			reason = "3 infra failures in 10 min"
		}
		if _, err := pool.Exec(ctx, `UPDATE devices SET state = $2, quarantine_reason = $3 WHERE serial = $1 AND state = 'idle'`, s, st, reason); err != nil {
			return fmt.Errorf("set state %s: %w", s, err)
		}
	}
	return nil
}

// Pin moves every farm timestamp to T0-relative values so screens are reproducible.
func Pin(ctx context.Context, pool *pgxpool.Pool) error {
	var err error
	for _, q := range []string{
		`UPDATE farm_runs SET created_at = $1::timestamptz - interval '2 hours' + id * interval '10 minutes',
		    started_at = CASE WHEN started_at IS NULL THEN NULL ELSE $1::timestamptz - interval '90 minutes' + id * interval '10 minutes' END,
		    finished_at = CASE WHEN finished_at IS NULL THEN NULL ELSE $1::timestamptz - interval '30 minutes' END`,
		`UPDATE farm_attempts SET started_at = $1::timestamptz - interval '1 hour', finished_at = $1::timestamptz - interval '59 minutes'`,
		`UPDATE devices SET last_seen = $1::timestamptz - (ascii(serial) % 7) * interval '1 second'`,
	} {
		if _, err = pool.Exec(ctx, q, T0); err != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("pin timestamps: %w", err)
	}
	return nil
}

// Verdict stores a fixed gate report through the gate's own Save, as `fleetlens gate` does
// after judging. The report is written out rather than judged here so the screens in golden
// files do not move when the gate's statistics are tuned (judging itself is tested through
// the real collector path in TestJudgeNowThroughGate).
func Verdict(ctx context.Context, pool *pgxpool.Pool, cand, base string) error {
	dist := func(dim, stratum, status string, b, c float64) gate.Check {
		return gate.Check{Metric: "request_ttfb", Title: "Request TTFB", Kind: gate.Distribution, Unit: "ms", Dim: dim,
			Stratum: stratum, Status: status, Baseline: b, Candidate: c, Change: c/b - 1, ChangeLo: (c/b - 1) * 0.6,
			ChangeHi: (c/b - 1) * 1.4, Shift: c - b, P: 0.0004, Q: 0.001, NBaseline: 2000, NCandidate: 2000,
			Percentiles: []gate.Percentile{{P: 0.5, Change: (c/b - 1) * 0.5}, {P: 0.9, Change: c/b - 1}, {P: 0.99, Change: (c/b - 1) * 1.3}}}
	}
	prop := func(metric, title, dim, stratum, status string, b, c float64) gate.Check {
		return gate.Check{Metric: metric, Title: title, Kind: gate.Proportion, Dim: dim, Stratum: stratum, Status: status,
			Baseline: b, Candidate: c, Change: c/b - 1, ChangeLo: (c/b - 1) * 0.5, ChangeHi: (c/b - 1) * 1.5,
			P: 0.002, Q: 0.004, NBaseline: 4000, NCandidate: 4000}
	}
	rep := &gate.Report{
		App: App, Candidate: cand, Baseline: base, Verdict: gate.Fail, ExitCode: 1, Score: 41,
		Summary:     "FAIL: Request TTFB +62% on 3g × low-tier devices; crash rate 1.50% on Galaxy A12 (guardrail 8%: ok)",
		GeneratedAt: T0,
		Data:        gate.DataSummary{BaselineSessions: 4000, CandidateSessions: 4000, Horizon: T0.Add(-30 * time.Minute)},
		Guardrails: []gate.GuardrailCheck{
			{Metric: "crash_rate", Stratum: "overall", Threshold: 0.0109, Rate: 0.0098, Lo: 0.007, Hi: 0.013, Events: 39, Sessions: 4000, Status: gate.StatusMarginal},
			{Metric: "anr_rate", Stratum: "overall", Threshold: 0.0047, Rate: 0.002, Lo: 0.001, Hi: 0.003, Events: 8, Sessions: 4000, Status: gate.StatusPass},
		},
		Checks: []gate.Check{
			dist("net_tier", "3g × low", gate.StatusFail, 410, 664),
			dist("overall", "all", gate.StatusMarginal, 255, 281),
			dist("net_tier", "4g × high", gate.StatusPass, 120, 122),
			prop("crash_rate", "Crash rate", "model", "Galaxy A12", gate.StatusFail, 0.004, 0.015),
			prop("crash_rate", "Crash rate", "overall", "all", gate.StatusPass, 0.004, 0.0045),
			prop("request_error_rate", "Request error rate", "overall", "all", gate.StatusPass, 0.001, 0.001),
		},
		Compat: []gate.CompatCheck{
			{Model: "Pixel 8 Pro", OSVersion: "14", Status: gate.StatusFail, BasePass: 1, CandPass: 0.89,
				NewFailures: []string{"com.example.shop.LoginTest#test03"}, Reason: "1 test fails on the candidate only"},
			{Model: "Galaxy A14", OSVersion: "13", Status: gate.StatusPass, BasePass: 1, CandPass: 1, Reason: "all tests pass"},
		},
	}
	if _, err := gate.Save(ctx, pool, rep); err != nil {
		return fmt.Errorf("save verdict: %w", err)
	}
	_, err := pool.Exec(ctx, `UPDATE gate_verdicts SET created_at = $1`, T0.Add(-5*time.Minute))
	return err
}

// Standard seeds the fleet and runs the golden tests and the end-to-end session use: 24
// devices on 3 hosts, a finished run of 2.3.0 and a running run of 2.4.0 vs 2.3.0 failing on
// one model, health history and a stored gate verdict.
func Standard(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	serials, err := Devices(ctx, pool, 18, 6, 3)
	if err != nil {
		return nil, err
	}
	android := serials[:18]
	if err := Health(ctx, pool, serials, 12); err != nil {
		return nil, err
	}
	if _, err := Enqueue(ctx, pool, "2.3.0", "", android[:8], Tests(9)); err != nil {
		return nil, err
	}
	if _, err := Execute(ctx, pool, android[:8], "", 1000, false); err != nil {
		return nil, err
	}
	if _, err := Enqueue(ctx, pool, "2.4.0", "2.3.0", android[:8], Tests(9)); err != nil {
		return nil, err
	}
	// "first": whichever model claims first fails, so the seed follows the catalog and the plan.
	failModel := "first"
	if _, err := Execute(ctx, pool, android[:8], failModel, 5, true); err != nil {
		return nil, err
	}
	if err := SetStates(ctx, pool, serials); err != nil {
		return nil, err
	}
	if err := Pin(ctx, pool); err != nil {
		return nil, err
	}
	if err := Verdict(ctx, pool, "2.4.0", "2.3.0"); err != nil {
		return nil, err
	}
	return serials, nil
}

// BulkDevices registers n android devices on hosts with COPY, the way a large farm's
// agents come up at once (every row still fires the farm's NOTIFY trigger).
func BulkDevices(ctx context.Context, pool *pgxpool.Pool, n, hosts int) error {
	for h := 0; h < hosts; h++ {
		if _, err := pool.Exec(ctx, `INSERT INTO hosts (id, hostname) VALUES ($1, $1) ON CONFLICT DO NOTHING`, fmt.Sprintf("bulk-%02d", h)); err != nil {
			return err
		}
	}
	fleet := catalog.Fleet(catalog.Android, n, "bulk")
	rows := make([][]any, len(fleet))
	for i, inst := range fleet {
		rows[i] = []any{inst.Serial, "android", fmt.Sprintf("bulk-%02d", i%hosts), states[i%len(states)],
			inst.Model.Manufacturer, inst.Model.Name, inst.OSVersion, int32(20 + i%80), float32(25 + i%20)}
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"devices"},
		[]string{"serial", "platform", "host_id", "state", "manufacturer", "model", "os_version", "battery_level", "temperature_c"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("copy %d devices: %w", n, err)
	}
	return nil
}
