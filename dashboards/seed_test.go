package dashboards

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/fleetlens/fleetlens/collector/enrich"
	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/internal/gate"
	"github.com/fleetlens/fleetlens/sdk-hooks/semconv"
)

// The seed goes through the real write paths: field telemetry is OTLP pdata shaped like the
// fleetlens SDK sends it, enriched by the collector's enricher and stored by its group-commit
// writer (which maintains the rollups); farm runs are enqueued, claimed and reported through
// devicefarm/schedule. Hosts, devices and health readings are INSERTed as the agent's
// registration would (the agent has no exported registration API yet). The gate's verdict is
// judged and saved by internal/gate.

const (
	seedApp      = "com.example.shop"
	seedCand     = "2.2.0"
	seedBase     = "2.1.0"
	sessionsEach = 8 // per device and release
)

type seedDevice struct {
	platform, manufacturer, model, osName, osVersion string
	ramMB, cores, mhz                                int
	serial, host                                     string
}

// Real models (devicefarm/sim/catalog has them too); tiers follow from RAM/cores/MHz:
// SM-A125F low, SM-A536B mid, shiba (Pixel 8) high, iPhone9,3 mid, iPhone14,5 high.
var seedDevices = []seedDevice{
	{"android", "samsung", "SM-A125F", "Android", "12", 3072, 8, 2300, "R58R31ABCDE", "host-a"},
	{"android", "samsung", "SM-A536B", "Android", "13", 6144, 8, 2400, "R58T22FGHIJ", "host-a"},
	{"android", "Google", "shiba", "Android", "14", 8192, 9, 2910, "38111FDJH00123", "host-b"},
	{"ios", "Apple", "iPhone9,3", "iOS", "15.8", 2048, 4, 2340, "00008030-001A2B3C4D5E6F70", "host-mac"},
	{"ios", "Apple", "iPhone14,5", "iOS", "17.2", 4096, 6, 3230, "00008110-000E1D2C3B4A5968", "host-mac"},
}

var (
	seedClasses  = []string{"slow-2g", "2g", "3g", "4g"}
	seedCarriers = []string{"Vodafone", "Airtel", "T-Mobile"}
)

// seedField stores sessionsEach sessions per device and release, spread over [from, to).
func seedField(t *testing.T, pool *pgxpool.Pool, from, to time.Time) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if err := (store.Partitions{Pool: pool, Retention: 48 * time.Hour, Ahead: 2}).Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO apps (id, name) VALUES ($1, 'Shop') ON CONFLICT DO NOTHING`, seedApp); err != nil {
		t.Fatal(err)
	}
	w := store.NewWriter(pool, store.WriterConfig{}, nil)
	w.Start(ctx)
	t.Cleanup(func() { _ = w.Shutdown(context.Background()) })
	en := enrich.New(enrich.DefaultConfig())

	n := 0
	total := len(seedDevices) * 2 * sessionsEach
	step := to.Sub(from) / time.Duration(total+1)
	for di, d := range seedDevices {
		for _, rel := range []string{seedBase, seedCand} {
			for s := 0; s < sessionsEach; s++ {
				n++
				start := from.Add(time.Duration(n) * step)
				class := seedClasses[(s+di)%len(seedClasses)]
				td, ld := session(d, rel, fmt.Sprintf("s-%d", n), uint64(n), class, seedCarriers[s%len(seedCarriers)], s, start)
				spans, rej := en.Traces(seedApp, td, now)
				if rej.Count > 0 {
					t.Fatalf("enricher rejected spans: %s", rej.Message(td.SpanCount(), "spans"))
				}
				events, rej := en.Logs(seedApp, ld, now)
				if rej.Count > 0 {
					t.Fatalf("enricher rejected log records: %s", rej.Message(ld.LogRecordCount(), "records"))
				}
				if err := w.Write(ctx, spans, events); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// session is one app session as the SDK reports it: a cold start span, HTTP client spans,
// and lifecycle / jank / ANR / crash log events, all on one resource.
func session(d seedDevice, release, id string, seq uint64, class, carrier string, s int, start time.Time) (ptrace.Traces, plog.Logs) {
	resource := func(m pcommon.Map) {
		m.PutStr(semconv.ServiceName, seedApp)
		m.PutStr(semconv.ServiceVersion, release)
		m.PutStr(semconv.DeviceManufacturer, d.manufacturer)
		m.PutStr(semconv.DeviceModelIdentifier, d.model)
		m.PutStr(semconv.OSName, d.osName)
		m.PutStr(semconv.OSVersion, d.osVersion)
		m.PutStr(semconv.Platform, d.platform)
		m.PutStr(semconv.SessionID, id)
		m.PutStr(semconv.DeviceID, "install-"+d.serial)
		m.PutInt(semconv.DeviceRAMMB, int64(d.ramMB))
		m.PutInt(semconv.DeviceCPUCores, int64(d.cores))
		m.PutInt(semconv.DeviceCPUMaxMHz, int64(d.mhz))
		m.PutStr(semconv.NetworkConnectionType, "cell")
		m.PutStr(semconv.NetworkCarrierName, carrier)
		m.PutStr(semconv.NetworkClass, class)
	}
	ts := pcommon.NewTimestampFromTime
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	resource(rs.Resource().Attributes())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(semconv.ScopeName)
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[8:], seq)
	tid[0] = 0xf1
	spanNo := uint64(0)
	add := func(name string, kind ptrace.SpanKind, at time.Time, dur time.Duration) ptrace.Span {
		spanNo++
		sp := ss.Spans().AppendEmpty()
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], seq<<16|spanNo)
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName(name)
		sp.SetKind(kind)
		sp.SetStartTimestamp(ts(at))
		sp.SetEndTimestamp(ts(at.Add(dur)))
		return sp
	}
	// Cold start: slower on weaker devices and for the candidate; every 4th is excessive (>= 5 s).
	startMS := 900 + 3_000_000/d.mhz + s*40
	if release == seedCand {
		startMS += 300
	}
	if s%4 == 0 {
		startMS = 5600
	}
	st := add(semconv.SpanAppStart, ptrace.SpanKindInternal, start, time.Duration(startMS)*time.Millisecond)
	st.Attributes().PutStr(semconv.AppStartType, []string{"cold", "warm", "hot"}[s%3])
	base := map[string]int{"slow-2g": 2400, "2g": 1600, "3g": 450, "4g": 120}[class]
	for k := 0; k < 6; k++ {
		at := start.Add(time.Duration(6+k*3) * time.Second)
		sp := add("GET /api/cart", ptrace.SpanKindClient, at, time.Duration(base+k*37)*time.Millisecond)
		a := sp.Attributes()
		a.PutStr(semconv.HTTPRequestMethod, "GET")
		a.PutStr(semconv.ServerAddress, "api.example.com")
		code := int64(200)
		if (k+s)%5 == 0 {
			code = 503
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		a.PutInt(semconv.HTTPResponseStatusCode, code)
		if k%2 == 1 {
			a.PutStr(semconv.NetworkCarrierName, carrier) // else only the resource says
		}
	}

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	resource(rl.Resource().Attributes())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(semconv.ScopeName)
	event := func(name string, at time.Time, attrs func(pcommon.Map)) {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName(name)
		lr.SetTimestamp(ts(at))
		lr.SetObservedTimestamp(ts(at))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		if attrs != nil {
			attrs(lr.Attributes())
		}
	}
	event(semconv.EventSessionStart, start, nil)
	event(semconv.EventJank, start.Add(10*time.Second), func(m pcommon.Map) { m.PutDouble(semconv.HangDurationMs, 120) })
	if s%2 == 0 {
		event(semconv.EventJank, start.Add(11*time.Second), func(m pcommon.Map) { m.PutDouble(semconv.HangDurationMs, 1800) })
	}
	if s%3 == 1 {
		event(semconv.EventANR, start.Add(12*time.Second), nil)
	}
	if s%4 == 1 || (release == seedCand && s%4 == 2) {
		event(semconv.EventCrash, start.Add(14*time.Second), func(m pcommon.Map) {
			m.PutStr(semconv.ExceptionType, "java.lang.IllegalStateException")
		})
	} else {
		event(semconv.EventSessionEnd, start.Add(30*time.Second), nil)
	}
	return td, ld
}

// seedFarm registers the hosts and devices, records health readings, and runs one suite per
// (release, platform) through the schedule package: a test that fails once then passes
// (flaky), one that always fails on the low-end model, one infra failure.
func seedFarm(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	for _, d := range seedDevices {
		if _, err := pool.Exec(ctx, `INSERT INTO hosts (id, hostname) VALUES ($1, $1 || '.lab') ON CONFLICT DO NOTHING`, d.host); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO devices (serial, platform, host_id, manufacturer, model, os_version, ram_mb, cpu_cores, cpu_max_mhz, battery_level, temperature_c)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 80, 31)`, d.serial, d.platform, d.host, d.manufacturer, d.model, d.osVersion, d.ramMB, d.cores, d.mhz); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 12; k++ {
			if _, err := pool.Exec(ctx, `INSERT INTO farm_device_health (serial, host_id, at, battery_level, charging, temperature_c, booted, responsive, ok)
				VALUES ($1, $2, now() - make_interval(mins => $3), $4, false, $5, true, true, true)`,
				d.serial, d.host, 10*k, 95-6*k, 28+float64(k)*1.5); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, rel := range []string{seedBase, seedCand} {
		for _, platform := range Platforms {
			var refs []schedule.DeviceRef
			var devs []seedDevice
			for _, d := range seedDevices {
				if d.platform == platform {
					refs = append(refs, schedule.DeviceRef{Serial: d.serial, Group: d.model + "|" + d.osVersion})
					devs = append(devs, d)
				}
			}
			tests := []schedule.TestKey{{Class: "com.example.CartTest", Method: "addItem"},
				{Class: "com.example.CartTest", Method: "checkout"}, {Class: "com.example.LoginTest", Method: "login"},
				{Class: "com.example.LoginTest", Method: "logout"}}
			enq, err := schedule.Enqueue(ctx, pool, schedule.RunSpec{SuiteName: "smoke", SuiteSource: "name: smoke\n",
				AppID: seedApp, Release: rel, Baseline: seedBase, Platform: platform, Tests: tests,
				Devices: refs, MaxRetries: 2})
			if err != nil {
				t.Fatal(err)
			}
			tries := map[int64]int{}
			onDevice := map[string]int{} // test id + serial -> attempts there
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
				var state string
				if err := pool.QueryRow(ctx, `SELECT state FROM farm_runs WHERE id = $1`, enq.RunID).Scan(&state); err != nil {
					t.Fatal(err)
				}
				if state != "queued" && state != "running" {
					break
				}
				progressed := false
				for _, d := range devs {
					// Each device's own agent claims for it.
					q := &schedule.Queue{DB: pool, HostID: d.host, TTL: 30 * time.Second}
					l, err := q.Claim(ctx, d.serial)
					if err != nil {
						t.Fatal(err)
					}
					if l == nil {
						continue
					}
					progressed = true
					for _, ct := range l.Tests {
						tries[ct.ID]++
						key := fmt.Sprint(ct.ID, d.serial)
						onDevice[key]++
						status, reason := "passed", ""
						switch {
						case ct.Method == "checkout" && tries[ct.ID] == 1:
							status = "failed" // flaky: passes on retry
						case ct.Method == "logout" && onDevice[key] == 1:
							status, reason = "infra", "device_lost" // once on every device
						}
						if _, err := q.Record(ctx, l, schedule.Attempt{TestID: ct.ID, Status: status, InfraReason: reason,
							Duration: time.Duration(400+100*tries[ct.ID]) * time.Millisecond, Message: status,
							StartedAt: time.Now().Add(-time.Second)}); err != nil {
							t.Fatal(err)
						}
					}
					if err := q.Complete(ctx, l); err != nil {
						t.Fatal(err)
					}
				}
				if !progressed {
					time.Sleep(50 * time.Millisecond) // re-queued work may wait for its not_before
				}
			}
			var state string
			if err := pool.QueryRow(ctx, `SELECT state FROM farm_runs WHERE id = $1`, enq.RunID).Scan(&state); err != nil {
				t.Fatal(err)
			}
			if state == "queued" || state == "running" {
				rows, _ := pool.Query(ctx, `SELECT w.id, w.kind, w.state, w.group_key, w.exclude_serials::text, w.not_before - now(), w.tests::text FROM farm_work_items w WHERE run_id = $1`, enq.RunID)
				for rows.Next() {
					v, _ := rows.Values()
					t.Log(v...)
				}
				rows.Close()
				t.Fatalf("farm run %d (%s %s) did not finish: %s", enq.RunID, rel, platform, state)
			}
		}
	}
}

// seedGate judges the candidate against the baseline with the release gate and saves the
// verdict, as `fleetlens gate` does.
func seedGate(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pol := gate.DefaultPolicy()
	in, err := gate.Load(ctx, pool, gate.Request{App: seedApp, Candidate: seedCand, Baseline: seedBase}, pol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gate.Save(ctx, pool, gate.Judge(in, pol)); err != nil {
		t.Fatal(err)
	}
}
