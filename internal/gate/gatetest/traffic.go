package gatetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/sim/traffic"
	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
)

// TrafficSpec is one release played by the traffic simulator (`fleetlens sim traffic`):
// catalog devices running the real SDK, real HTTP through toxiproxy lab profiles.
type TrafficSpec struct {
	Release  string
	Sessions int
	Seed     uint64
	TTFBPct  int // the simulator's seeded regression: TTFB +N% for low-tier devices on 3g
}

// TrafficMix keeps the regression in one measured stratum: direct (fast wifi, measured 4g by
// NQE) and 3g-average (2 x 100 ms + server time = ~280 ms TTFB, measured 3g by NQE's 272 ms
// threshold). The default mix's 3g-good measures as 4g and edge-lossy as 3g, which would spread
// a "3g profile" regression over two measured strata.
var TrafficMix = []traffic.Network{
	{Profile: "", Type: sc.ConnWifi, Weight: 0.5},
	{Profile: "3g-average", Type: sc.ConnCell, Subtype: "umts", Weight: 0.5},
}

// SeedTraffic runs the traffic simulator for s against the collector at endpoint.
func SeedTraffic(ctx context.Context, endpoint, token, workDir string, s TrafficSpec) (traffic.Result, error) {
	res, err := traffic.Run(ctx, traffic.Config{
		App: App, Release: s.Release, Sessions: s.Sessions, Seed: s.Seed, Endpoint: "http://" + endpoint, Token: token,
		Concurrency: 24, RequestsPerSession: 6, Mix: TrafficMix, Regression: traffic.Regression{TTFB3GLowPct: s.TTFBPct},
		WorkDir: workDir,
	})
	if err != nil {
		return res, fmt.Errorf("sim traffic %s: %w", s.Release, err)
	}
	if res.LeftQueued > 0 {
		return res, fmt.Errorf("sim traffic %s: %d batches left undelivered", s.Release, res.LeftQueued)
	}
	return res, nil
}

// SeedTrafficReleases starts a collector on pool, registers App and plays every spec at
// the same time, as a canary runs beside its baseline: on a shared machine, load changes the
// TTFB that real proxies measure, and releases played one after another would differ by
// whatever else the machine was doing.
func SeedTrafficReleases(t testing.TB, pool *pgxpool.Pool, specs ...TrafficSpec) {
	t.Helper()
	c := StartCollector(t, pool)
	tok := NewApp(t, pool)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, s := range specs {
		dir := t.TempDir()
		wg.Go(func() {
			res, err := SeedTraffic(ctx, c.HTTPAddr(), tok, dir, s)
			errs[i] = err
			t.Logf("sim traffic %s: %d sessions, %d requests in %s", s.Release, res.Sessions, res.Requests, res.Elapsed.Round(time.Millisecond))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
