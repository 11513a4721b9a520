package vitals

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestClassifyFrame(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want FrameClass
	}{
		{0, FrameOK},
		{16 * ms, FrameOK},
		{17 * ms, FrameSlow},
		{699 * ms, FrameSlow},
		{700 * ms, FrameFrozen},
		{5 * time.Second, FrameFrozen},
		{5*time.Second + ms, FrameANR},
	} {
		if got := ClassifyFrame(tc.d); got != tc.want {
			t.Errorf("ClassifyFrame(%v) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

func TestFrameCounts(t *testing.T) {
	var c FrameCounts
	for _, d := range []time.Duration{8 * ms, 20 * ms, 30 * ms, 800 * ms, 6 * time.Second, 16 * ms} {
		c.Add(d)
	}
	if want := (FrameCounts{Total: 6, Slow: 2, Frozen: 1, ANR: 1}); c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
}

func TestIsHang(t *testing.T) {
	for _, tc := range []struct {
		platform string
		d        time.Duration
		want     bool
	}{
		{"ios", 1999 * ms, false},
		{"ios", 2 * time.Second, true},
		{"android", 2 * time.Second, false},
		{"android", 5 * time.Second, false},
		{"android", 5001 * ms, true},
	} {
		if got := IsHang(tc.platform, tc.d); got != tc.want {
			t.Errorf("IsHang(%s, %v) = %v, want %v", tc.platform, tc.d, got, tc.want)
		}
	}
}

func TestExcessiveStart(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		d    time.Duration
		want bool
	}{
		{"cold", 4999 * ms, false},
		{"cold", 5 * time.Second, true},
		{"warm", 1999 * ms, false},
		{"warm", 2 * time.Second, true},
		{"hot", 1499 * ms, false},
		{"hot", 1500 * ms, true},
		{"lukewarm", 3 * time.Second, false}, // unknown types use the cold rule
		{"lukewarm", 5 * time.Second, true},
	} {
		st, _ := ParseStartType(tc.typ)
		if got := IsExcessiveStart(st, tc.d); got != tc.want {
			t.Errorf("IsExcessiveStart(%s, %v) = %v, want %v", tc.typ, tc.d, got, tc.want)
		}
	}
	if _, ok := ParseStartType("lukewarm"); ok {
		t.Error("ParseStartType accepted lukewarm")
	}
}
