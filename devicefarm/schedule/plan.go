package schedule

import (
	"sort"
	"time"
)

// PlanTest is one test to place, with its expected duration.
type PlanTest struct {
	Ref      int // caller's index (e.g. into farm_run_tests ids)
	Expected time.Duration
	Profile  string
	Group    string // matrix group key; "" for any device
}

// Item is one planned work item: tests run in order on one device.
type Item struct {
	Kind     string // batch | single | matrix | preventive
	Refs     []int
	Expected time.Duration
	Profile  string
	Group    string
	Priority int
}

// PlanConfig shapes the batches.
type PlanConfig struct {
	Devices int // devices expected to share the work
	// BatchesPerDevice: a batch is remaining/(Devices*BatchesPerDevice) of expected time;
	// more means smaller batches (less imbalance, more claims). Default 3.
	BatchesPerDevice int
	// LastMile is the fraction of total expected time left as single-test items so that
	// devices finish together. Default 0.10.
	LastMile float64
	// MaxBatch caps a batch's test count (one install/instrument per batch). Default 50.
	MaxBatch int
}

func (c PlanConfig) withDefaults() PlanConfig {
	if c.Devices < 1 {
		c.Devices = 1
	}
	if c.BatchesPerDevice <= 0 {
		c.BatchesPerDevice = 3
	}
	if c.LastMile <= 0 {
		c.LastMile = 0.10
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 50
	}
	return c
}

// Plan splits tests into work items, duration-aware. Tests are sorted longest first (the
// claim order is longest first too, so placement is LPT list scheduling). Batch sizes
// shrink as the work left shrinks (guided self-scheduling: a batch is about
// remaining/(devices*BatchesPerDevice) of expected time), so early batches amortise claims
// and installs while late ones are small; once the work left is under LastMile of the total,
// every test is its own item: the "last mile" that lets every device finish together. A
// test longer than the current batch size stands alone. Tests of different profiles or
// matrix groups never share a batch.
func Plan(tests []PlanTest, cfg PlanConfig) []Item {
	cfg = cfg.withDefaults()
	type key struct{ profile, group string }
	byKey := map[key][]PlanTest{}
	var keys []key
	for _, t := range tests {
		k := key{t.Profile, t.Group}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], t)
	}
	var items []Item
	for _, k := range keys {
		ts := byKey[k]
		sort.SliceStable(ts, func(i, j int) bool { return ts[i].Expected > ts[j].Expected })
		var total time.Duration
		for _, t := range ts {
			total += t.Expected
		}
		devices := cfg.Devices
		if len(keys) > 1 {
			// Several partitions share the fleet; size batches as if each had its share.
			devices = max(1, cfg.Devices/len(keys))
		}
		lastMile := time.Duration(float64(total) * cfg.LastMile)
		kind, prio := "batch", 0
		if k.group != "" {
			kind, prio = "matrix", 20
		}
		single := kind
		if single == "batch" {
			single = "single"
		}
		remaining := total
		var cur *Item
		var target time.Duration
		flush := func() {
			if cur != nil && len(cur.Refs) > 0 {
				items = append(items, *cur)
			}
			cur = nil
		}
		for _, t := range ts {
			if cur == nil {
				target = remaining / time.Duration(devices*cfg.BatchesPerDevice)
			}
			if remaining <= lastMile || t.Expected >= target {
				flush()
				items = append(items, Item{Kind: single, Refs: []int{t.Ref}, Expected: t.Expected, Profile: k.profile, Group: k.group, Priority: prio})
				remaining -= t.Expected
				continue
			}
			if cur == nil {
				cur = &Item{Kind: kind, Profile: k.profile, Group: k.group, Priority: prio}
			}
			cur.Refs = append(cur.Refs, t.Ref)
			cur.Expected += t.Expected
			remaining -= t.Expected
			if cur.Expected >= target || len(cur.Refs) >= cfg.MaxBatch {
				flush()
			}
		}
		flush()
	}
	return items
}

// LowerBound is the makespan no schedule can beat: max(total/devices, longest).
func LowerBound(durations []time.Duration, devices int) time.Duration {
	var total, longest time.Duration
	for _, d := range durations {
		total += d
		longest = max(longest, d)
	}
	return max(total/time.Duration(max(1, devices)), longest)
}
