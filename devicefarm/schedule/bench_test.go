package schedule

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

// The farm benchmark: 500 devices on 4 agent hosts, a 10,000-test suite whose durations are
// heavy-tailed (log-normal, median 20 s, sigma 1, capped at 8 min) and 3 % flaky tests
// (each attempt fails with p = 0.5). Devices are virtual: a test "takes" its duration in
// virtual time, but every claim, result and completion is a real call into PostgreSQL
// (farm_claim / farm_record / farm_complete), so the schedule, the retries and the round
// trips are the real ones. The naive baseline is a round-robin split of the same tests with
// the same outcomes, failed tests re-run at the end of their shard.

const (
	benchDevices = 500
	benchHosts   = 4
	benchTests   = 10000
)

type benchTest struct {
	key    TestKey
	dur    time.Duration // expected (history)
	actual time.Duration
	flaky  bool
}

func benchSuite(seed uint64) []benchTest {
	rng := rand.New(rand.NewPCG(seed, 7))
	ts := make([]benchTest, benchTests)
	for i := range ts {
		d := time.Duration(20 * math.Exp(rng.NormFloat64()) * float64(time.Second))
		d = min(max(d, 200*time.Millisecond), 8*time.Minute)
		ts[i] = benchTest{key: TestKey{fmt.Sprintf("com.example.C%03d", i%300), fmt.Sprintf("t%05d", i)}, dur: d,
			actual: time.Duration(float64(d) * (0.9 + 0.2*rng.Float64())), flaky: rng.Float64() < 0.03}
	}
	return ts
}

// event is the virtual finish of test idx of a device's current item.
type event struct {
	at     time.Duration
	serial string
	lease  *Lease
	idx    int
}
type eventQ []event

func (q eventQ) Len() int           { return len(q) }
func (q eventQ) Less(i, j int) bool { return q[i].at < q[j].at }
func (q eventQ) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *eventQ) Push(x any)        { *q = append(*q, x.(event)) }
func (q *eventQ) Pop() any          { o := *q; x := o[len(o)-1]; *q = o[:len(o)-1]; return x }
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func seedBench(b *testing.B, pool *pgxpool.Pool, ts []benchTest) []DeviceRef {
	ctx := context.Background()
	var devs []DeviceRef
	for h := 0; h < benchHosts; h++ {
		host := fmt.Sprintf("host%d", h)
		if _, err := pool.Exec(ctx, `INSERT INTO hosts (id, hostname, lease_ttl_ms) VALUES ($1, $1, 3600000)`, host); err != nil {
			b.Fatal(err)
		}
	}
	var serials, hosts, models []string
	for i := 0; i < benchDevices; i++ {
		serials = append(serials, fmt.Sprintf("dev%03d", i))
		hosts = append(hosts, fmt.Sprintf("host%d", i%benchHosts))
		models = append(models, fmt.Sprintf("M%d", i%40))
		devs = append(devs, DeviceRef{Serial: serials[i], Group: models[i] + "|13"})
	}
	if _, err := pool.Exec(ctx, `INSERT INTO devices (serial, platform, host_id, model, os_version)
		SELECT s, 'android', h, m, '13' FROM unnest($1::text[], $2::text[], $3::text[]) u(s, h, m)`, serials, hosts, models); err != nil {
		b.Fatal(err)
	}
	// History of a previous run: the known duration distribution.
	var runID int64
	if err := pool.QueryRow(ctx, `WITH a AS (INSERT INTO apps (id) VALUES ('com.example') RETURNING id),
		s AS (INSERT INTO farm_suites (name, source, spec) VALUES ('bench', '', '{}') RETURNING id)
		INSERT INTO farm_runs (suite_id, app_id, release, state) SELECT s.id, a.id, '0.9', 'passed' FROM s, a RETURNING id`).Scan(&runID); err != nil {
		b.Fatal(err)
	}
	var cls, mth []string
	var ms []int32
	for _, t := range ts {
		cls, mth, ms = append(cls, t.key.Class), append(mth, t.key.Method), append(ms, int32(t.dur/time.Millisecond))
	}
	if _, err := pool.Exec(ctx, `INSERT INTO farm_test_history (app_id, class, method, run_id, status, duration_ms, attempts)
		SELECT 'com.example', c, m, $1, 'passed', d, 1 FROM unnest($2::text[], $3::text[], $4::int[]) u(c, m, d)`, runID, cls, mth, ms); err != nil {
		b.Fatal(err)
	}
	return devs
}

func BenchmarkFarmSchedule(b *testing.B) {
	ts := benchSuite(1)
	byKey := map[TestKey]*benchTest{}
	var durs []time.Duration
	for i := range ts {
		byKey[ts[i].key] = &ts[i]
		durs = append(durs, ts[i].actual)
	}
	for i := 0; i < b.N; i++ {
		pool := pgtest.New(b)
		devs := seedBench(b, pool, ts)
		ctx := context.Background()
		var keys []TestKey
		for _, t := range ts {
			keys = append(keys, t.key)
		}
		b.ResetTimer()
		cpu0 := cpuTime()
		wall0 := time.Now()
		enq, err := Enqueue(ctx, pool, RunSpec{SuiteName: "bench", SuiteSource: "bench", AppID: "com.example", Release: "1.0",
			Tests: keys, Devices: devs, MaxRetries: 2, RetryBudget: 1000})
		if err != nil {
			b.Fatal(err)
		}
		queues := make([]*Queue, benchHosts)
		for h := range queues {
			queues[h] = &Queue{DB: pool, HostID: fmt.Sprintf("host%d", h), TTL: time.Hour}
		}
		hostOf := func(serial string) *Queue {
			var n int
			fmt.Sscanf(serial, "dev%d", &n)
			return queues[n%benchHosts]
		}
		attemptsOf := map[TestKey]int{}
		var claimLat []time.Duration
		trips := 1 // the enqueue transaction is counted as one
		claim := func(serial string, now time.Duration, q *eventQ) bool {
			t0 := time.Now()
			l, err := hostOf(serial).Claim(ctx, serial)
			claimLat = append(claimLat, time.Since(t0))
			trips++
			if err != nil {
				b.Fatal(err)
			}
			if l == nil {
				return false
			}
			heap.Push(q, event{at: now + byKey[TestKey{l.Tests[0].Class, l.Tests[0].Method}].actual, serial: serial, lease: l})
			return true
		}
		q := &eventQ{}
		var idle []string
		for _, d := range devs {
			if !claim(d.Serial, 0, q) {
				idle = append(idle, d.Serial)
			}
		}
		var makespan time.Duration
		for q.Len() > 0 {
			ev := heap.Pop(q).(event)
			makespan = max(makespan, ev.at)
			// Each result is recorded when its test ends, as the agent does, so a retry is
			// queued the moment a test fails.
			ct := ev.lease.Tests[ev.idx]
			k := TestKey{ct.Class, ct.Method}
			bt := byKey[k]
			attemptsOf[k]++
			st := "passed"
			if bt.flaky && flakyFails(k, attemptsOf[k]) {
				st = "failed"
			}
			s, err := hostOf(ev.serial).Record(ctx, ev.lease, Attempt{TestID: ct.ID, Status: st, Duration: bt.actual})
			trips++
			if err != nil {
				b.Fatal(err)
			}
			if ev.idx+1 < len(ev.lease.Tests) {
				next := ev.lease.Tests[ev.idx+1]
				heap.Push(q, event{at: ev.at + byKey[TestKey{next.Class, next.Method}].actual, serial: ev.serial, lease: ev.lease, idx: ev.idx + 1})
			} else {
				if err := hostOf(ev.serial).Complete(ctx, ev.lease); err != nil {
					b.Fatal(err)
				}
				trips++
				if !claim(ev.serial, ev.at, q) {
					idle = append(idle, ev.serial)
				}
			}
			if s == "pending" { // a retry was queued: wake an idle device for it
				for len(idle) > 0 && claim(idle[0], ev.at, q) {
					idle = idle[1:]
				}
			}
		}
		wall := time.Since(wall0)
		cpu := cpuTime() - cpu0
		b.StopTimer()
		var state string
		var open, flakyV int
		pool.QueryRow(ctx, `SELECT state, (SELECT count(*) FROM farm_run_tests WHERE run_id = $1 AND status IN ('pending','running')),
			(SELECT count(*) FROM farm_run_tests WHERE run_id = $1 AND status = 'flaky')
			FROM farm_runs WHERE id = $1`, enq.RunID).Scan(&state, &open, &flakyV)
		if open != 0 || (state != "passed" && state != "failed") {
			rows, _ := pool.Query(ctx, `SELECT 'item', state, count(*)::text FROM farm_work_items GROUP BY 2
				UNION ALL SELECT 'device', state, count(*)::text FROM devices GROUP BY 2
				UNION ALL SELECT 'test', status, count(*)::text FROM farm_run_tests GROUP BY 2`)
			for rows.Next() {
				v, _ := rows.Values()
				b.Log(v...)
			}
			rows.Close()
			b.Fatalf("run ended %s with %d tests undecided (idle %d)", state, open, len(idle))
		}
		b.ReportMetric(float64(flakyV), "flaky_verdicts")
		// Heartbeats: one per host per TTL/3 (10 s at the default 30 s TTL) over the makespan.
		trips += int(makespan/(10*time.Second)) * benchHosts

		lb := LowerBound(durs, benchDevices)
		naive := naiveMakespan(ts)
		sort.Slice(claimLat, func(i, j int) bool { return claimLat[i] < claimLat[j] })
		p99 := claimLat[len(claimLat)*99/100]
		b.ReportMetric(float64(makespan)/float64(lb), "makespan/LB")
		b.ReportMetric(float64(naive)/float64(lb), "naive_makespan/LB")
		b.ReportMetric(float64(naive)/float64(makespan), "naive/ours")
		b.ReportMetric(makespan.Seconds(), "makespan_s")
		b.ReportMetric(lb.Seconds(), "lowerbound_s")
		b.ReportMetric(float64(p99.Microseconds())/1000, "claim_p99_ms")
		b.ReportMetric(float64(claimLat[len(claimLat)/2].Microseconds())/1000, "claim_p50_ms")
		b.ReportMetric(float64(trips)/benchTests, "db_trips/test")
		b.ReportMetric(float64(cpu.Microseconds())/1000/benchDevices, "cpu_ms/device")
		b.ReportMetric(wall.Seconds(), "wall_s")
		b.ReportMetric(float64(enq.Items), "work_items")
		concurrentClaims(b, pool)
	}
}

// flakyFails: a flaky test's attempt fails with p = 0.5, reproducibly per (test, attempt).
func flakyFails(k TestKey, attempt int) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%s/%d", k.Class, k.Method, attempt)
	return h.Sum64()%2 == 0
}

// naiveMakespan: test i on device i mod N, a failed test re-run (up to 2 times) at the end
// of its shard, with the same outcomes as the farm run.
func naiveMakespan(ts []benchTest) time.Duration {
	load := make([]time.Duration, benchDevices)
	for i, t := range ts {
		load[i%benchDevices] += t.actual
		for n := 1; t.flaky && n <= 2 && flakyFails(t.key, n); n++ {
			load[i%benchDevices] += t.actual
		}
	}
	var m time.Duration
	for _, l := range load {
		m = max(m, l)
	}
	return m
}

// concurrentClaims measures claim latency under contention: 4 agents x 8 connections
// draining 2,000 single-test items at once (SKIP LOCKED keeps them from queueing on locks).
func concurrentClaims(b *testing.B, pool *pgxpool.Pool) {
	ctx := context.Background()
	var devs []DeviceRef
	for i := 0; i < 32; i++ {
		devs = append(devs, DeviceRef{Serial: fmt.Sprintf("dev%03d", i), Group: "g"})
	}
	var keys []TestKey
	for i := 0; i < 2000; i++ {
		keys = append(keys, TestKey{"com.example.Conc", fmt.Sprintf("c%04d", i)})
	}
	if _, err := Enqueue(ctx, pool, RunSpec{SuiteName: "conc", SuiteSource: "x", AppID: "com.example", Release: "1.1",
		Tests: keys, Devices: devs, Plan: PlanConfig{LastMile: 0.999}}); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			serial := fmt.Sprintf("dev%03d", i)
			q := &Queue{DB: pool, HostID: fmt.Sprintf("host%d", i%benchHosts), TTL: time.Hour}
			for {
				t0 := time.Now()
				l, err := q.Claim(ctx, serial)
				d := time.Since(t0)
				if err != nil {
					b.Error(err)
					return
				}
				if l == nil {
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				for _, ct := range l.Tests {
					if _, err := q.Record(ctx, l, Attempt{TestID: ct.ID, Status: "passed"}); err != nil {
						b.Error(err)
						return
					}
				}
				if err := q.Complete(ctx, l); err != nil {
					b.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "claim_p99_32conc_ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "claim_p50_32conc_ms")
	}
}
