package device

import "testing"

func TestTier(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Profile
		want Tier
	}{
		// Figures from devicefarm/sim/catalog/models.yaml.
		{"galaxy a12 3GB", Profile{Platform: Android, RAMMB: 3072, CPUCores: 8, CPUMaxMHz: 2300}, TierLow},
		{"nokia 2.3 4 cores", Profile{Platform: Android, RAMMB: 2048, CPUCores: 4, CPUMaxMHz: 2000}, TierLow},
		{"4GB 8 cores 2000MHz", Profile{Platform: Android, RAMMB: 4096, CPUCores: 8, CPUMaxMHz: 2000}, TierMid},
		{"7 cores big ram", Profile{Platform: Android, RAMMB: 12288, CPUCores: 7, CPUMaxMHz: 3000}, TierLow},
		{"2499MHz", Profile{Platform: Android, RAMMB: 8192, CPUCores: 8, CPUMaxMHz: 2499}, TierMid},
		{"pixel 7 2850MHz", Profile{Platform: Android, RAMMB: 8192, CPUCores: 8, CPUMaxMHz: 2850}, TierHigh},
		{"2500MHz exactly", Profile{Platform: Android, RAMMB: 4096, CPUCores: 8, CPUMaxMHz: 2500}, TierHigh},
		{"android no clock", Profile{Platform: Android, RAMMB: 8192, CPUCores: 8}, TierUnknown},
		{"android low without clock", Profile{Platform: Android, RAMMB: 2048, CPUCores: 8}, TierLow},
		{"android no ram", Profile{Platform: Android, CPUCores: 8, CPUMaxMHz: 3000}, TierUnknown},
		{"iphone 6s 1850MHz", Profile{Platform: IOS, RAMMB: 2048, CPUCores: 2, CPUMaxMHz: 1850}, TierLow},
		{"iphone 7 4 cores", Profile{Platform: IOS, RAMMB: 2048, CPUCores: 4, CPUMaxMHz: 2340}, TierMid},
		{"iphone 13", Profile{Platform: IOS, RAMMB: 4096, CPUCores: 6, CPUMaxMHz: 3230}, TierHigh},
		{"ios 2000MHz exactly", Profile{Platform: IOS, CPUCores: 6, CPUMaxMHz: 2000}, TierHigh},
		{"ios upper-case platform", Profile{Platform: "iOS", CPUCores: 6, CPUMaxMHz: 3000}, TierHigh},
		{"ios no clock", Profile{Platform: IOS, CPUCores: 6}, TierUnknown},
		{"unknown platform", Profile{Platform: "symbian", RAMMB: 64, CPUCores: 1, CPUMaxMHz: 300}, TierUnknown},
	} {
		if got := tc.p.Tier(); got != tc.want {
			t.Errorf("%s: Tier() = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestYearClass(t *testing.T) {
	for _, tc := range []struct {
		ram, mhz, want int
	}{
		{0, 2000, 0},
		{-1, 0, 0},
		{512, 1000, 2010},
		{768, 1000, 2010},
		{1024, 1200, 2011},
		{1024, 1300, 2012},
		{1024, 0, 2012},
		{1536, 1700, 2012},
		{1536, 1800, 2013},
		{2048, 2000, 2013},
		{3072, 2300, 2014},
		{4096, 2000, 2015},
		{5120, 2000, 2015},
		{6144, 2000, 2016},
		{12288, 2910, 2016},
	} {
		p := Profile{Platform: Android, RAMMB: tc.ram, CPUMaxMHz: tc.mhz}
		if got := p.YearClass(); got != tc.want {
			t.Errorf("YearClass(ram %d MB, %d MHz) = %d, want %d", tc.ram, tc.mhz, got, tc.want)
		}
	}
}
