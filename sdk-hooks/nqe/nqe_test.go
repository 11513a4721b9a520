package nqe

import (
	"math"
	"testing"
	"time"
)

func TestClassifyRTT(t *testing.T) {
	for _, tc := range []struct {
		rtt  time.Duration
		want EffectiveType
	}{
		{0, ECTUnknown},
		{-time.Second, ECTUnknown},
		{time.Millisecond, ECT4G},
		{271 * time.Millisecond, ECT4G},
		{272 * time.Millisecond, ECT3G},
		{1419 * time.Millisecond, ECT3G},
		{1420 * time.Millisecond, ECT2G},
		{2009 * time.Millisecond, ECT2G},
		{2010 * time.Millisecond, ECTSlow2G},
		{30 * time.Second, ECTSlow2G},
	} {
		if got := ClassifyRTT(tc.rtt); got != tc.want {
			t.Errorf("ClassifyRTT(%v) = %s, want %s", tc.rtt, got, tc.want)
		}
	}
}

func TestClassifyKbps(t *testing.T) {
	for _, tc := range []struct {
		kbps float64
		want ThroughputClass
	}{
		{0, TPUnknown},
		{-5, TPUnknown},
		{math.NaN(), TPUnknown},
		{math.Inf(1), TPUnknown},
		{1, TPPoor},
		{149.9, TPPoor},
		{150, TPModerate},
		{549.9, TPModerate},
		{550, TPGood},
		{1999, TPGood},
		{2000, TPExcellent},
		{1e6, TPExcellent},
	} {
		if got := ClassifyKbps(tc.kbps); got != tc.want {
			t.Errorf("ClassifyKbps(%v) = %s, want %s", tc.kbps, got, tc.want)
		}
	}
}

func TestEstimatorHysteresis(t *testing.T) {
	type step struct {
		rtt  time.Duration
		n    int
		want EffectiveType
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first sample classifies", []step{{400 * time.Millisecond, 1, ECT3G}}},
		{"one outlier does not flip", []step{
			{100 * time.Millisecond, 10, ECT4G},
			{5 * time.Second, 1, ECT4G},
			{100 * time.Millisecond, 3, ECT4G},
		}},
		{"four bad samples do not flip, fifth does", []step{
			{200 * time.Millisecond, 1, ECT4G},
			{800 * time.Millisecond, 4, ECT4G}, // smoothed 400..606 ms: 3g four times
			{800 * time.Millisecond, 1, ECT3G}, // fifth consecutive 3g reading flips
		}},
		{"streak restarts when the candidate class changes", []step{
			{50 * time.Millisecond, 1, ECT4G},
			{3 * time.Second, 4, ECT4G}, // smoothed 387..1321 ms: 3g candidate x4
			{3 * time.Second, 1, ECT4G}, // smoothed 1516 ms: 2g candidate, streak restarts
			{3 * time.Second, 4, ECT2G},
		}},
		{"within 20% of the boundary stays", []step{
			{250 * time.Millisecond, 1, ECT4G},
			{300 * time.Millisecond, 40, ECT4G}, // 300 < 272*1.2: not significantly outside
		}},
		{"beyond 20% of the boundary moves", []step{
			{250 * time.Millisecond, 1, ECT4G},
			{400 * time.Millisecond, 40, ECT3G},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEstimator()
			for i, s := range tc.steps {
				for range s.n {
					e.AddRTT(s.rtt)
				}
				if got := e.Current().Type; got != s.want {
					t.Fatalf("after step %d (%d x %v): class %s, want %s (rtt %v)", i, s.n, s.rtt, got, s.want, e.Current().RTT)
				}
			}
		})
	}
}

func TestEstimatorThroughput(t *testing.T) {
	e := NewEstimator()
	if got := e.Current(); got.Throughput != TPUnknown || got.Type != ECTUnknown || got.Kbps != 0 {
		t.Fatalf("fresh estimator = %+v, want unknown", got)
	}
	// 3g-average lab profile: 780 kbps down -> good.
	for range 3 {
		e.AddTransfer(97500, time.Second) // 780 kbps
	}
	if got := e.Current(); got.Throughput != TPGood || math.Abs(got.Kbps-780) > 1 {
		t.Fatalf("after 780 kbps samples: %+v, want good ~780", got)
	}
	// idle-connection samples (< 10 kbps) and garbage are ignored
	e.AddTransfer(100, 10*time.Second)
	e.AddTransfer(-1, time.Second)
	e.AddTransfer(100, 0)
	if got := e.Current(); math.Abs(got.Kbps-780) > 1 {
		t.Fatalf("ignored samples moved the estimate: %+v", got)
	}
	// Sustained 2g-rural (20 kbps) moves it to poor after enough samples.
	for range 40 {
		e.AddTransfer(2500, time.Second)
	}
	if got := e.Current().Throughput; got != TPPoor {
		t.Fatalf("after sustained 20 kbps: %s, want poor", got)
	}
}

func TestEstimatorBadParams(t *testing.T) {
	e := NewEstimatorWith(0, 5)
	if e.samples != DefaultSamplesToChange || e.hysteresis != DefaultHysteresis {
		t.Fatalf("bad params not defaulted: %d %v", e.samples, e.hysteresis)
	}
	e.AddRTT(time.Hour) // absurd: ignored
	if e.Current().Type != ECTUnknown {
		t.Fatal("absurd RTT was used")
	}
}
