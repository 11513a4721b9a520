package gate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/gate"
	"github.com/fleetlens/fleetlens/internal/gate/gatetest"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

// trafficPolicy lowers the sample minimums to what a test can afford to simulate in
// seconds; everything else is the shipped policy.
const trafficPolicy = `
min_sessions: 100
metrics:
  request_ttfb:       {min_samples: 50}
  request_duration:   {min_samples: 50}
  request_error_rate: {min_samples: 200}
  anr_rate:           {min_samples: 100}
  crash_rate:         {min_samples: 100}
`

// The done-when through the traffic simulator: real SDK, real HTTP over toxiproxy 3g, OTLP
// into the collector. 2.3.0 carries the simulator's seeded regression (+60% TTFB for
// low-tier devices on 3g); 2.3.1 is the same app with another seed.
func TestGateThroughTrafficSimulator(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	gatetest.SeedTrafficReleases(t, pool,
		gatetest.TrafficSpec{Release: "2.2.0", Sessions: 240, Seed: 11},
		gatetest.TrafficSpec{Release: "2.3.0", Sessions: 240, Seed: 12, TTFBPct: 60},
		gatetest.TrafficSpec{Release: "2.3.1", Sessions: 240, Seed: 13},
		gatetest.TrafficSpec{Release: "2.4.0", Sessions: 12, Seed: 14},
	)
	pol, err := gate.ParsePolicy("traffic-policy.yaml", []byte(trafficPolicy))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(2 * time.Minute)
	judge := func(cand string) *gate.Report {
		in, err := gate.Load(ctx, pool, gate.Request{App: gatetest.App, Candidate: cand, Baseline: "2.2.0", Now: at}, pol)
		if err != nil {
			t.Fatal(err)
		}
		r := gate.Judge(in, pol)
		t.Logf("%s: %s", cand, r.Summary)
		for _, c := range r.Checks {
			if c.Status == gate.StatusFail || c.Status == gate.StatusMarginal {
				t.Logf("  %s %s", c.Status, c.Headline())
			}
		}
		return r
	}
	if r := judge("2.3.0"); r.Verdict != gate.Fail || !strings.Contains(r.Summary, "3g × low") {
		t.Errorf("regressed release: verdict %s: %s", r.Verdict, r.Summary)
	} else {
		for _, c := range r.Checks {
			if c.Status == gate.StatusFail && c.Dim == gate.DimNetTier && c.Stratum != "3g × low" {
				t.Errorf("unaffected stratum failed: %s", c.Headline())
			}
		}
	}
	if r := judge("2.3.1"); r.Verdict != gate.Pass {
		t.Errorf("neutral release: verdict %s: %s", r.Verdict, r.Summary)
	}
	if r := judge("2.4.0"); r.Verdict != gate.Inconclusive {
		t.Errorf("tiny release: verdict %s: %s", r.Verdict, r.Summary)
	}
}
