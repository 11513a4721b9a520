package adbd

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/electricbubble/gadb"
)

// sh runs a command line on a device without any transport (the service layer only).
func sh(d *Device, line string) (string, string, int) {
	var out, errb bytes.Buffer
	code := d.runShell(context.Background(), line, nil, &out, &errb)
	return out.String(), errb.String(), code
}

func installManifest(t *testing.T, d *Device, m Manifest) {
	t.Helper()
	var out bytes.Buffer
	if code := d.finishInstall(&m, 1000, 1, "test", true, &out); code != 0 {
		t.Fatalf("install %s: %s", m.Package, out.String())
	}
}

func TestScriptedBehaviours(t *testing.T) {
	f, err := NewFleet(Config{Count: 15, Seed: "behave", TimeScale: 0.001, Faults: []Fault{
		{When: Match{OS: []string{"10"}}, BatteryLevel: 4, Unplugged: true},
		{When: Match{Models: []string{"pixel-7"}}, TemperatureC: 48},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Package: "com.x.test", Instrumentation: &Instrumentation{TargetPackage: "com.x", Tests: []TestSpec{
		{Class: "a.A", Method: "flaky", Behaviours: []Behaviour{{Outcome: OutcomeFlaky, Probability: 0.5}}},
		{Class: "a.A", Method: "two"}, {Class: "a.B", Method: "three"}, {Class: "a.B", Method: "four"},
		{Class: "a.B", Method: "oldSdkOnly", Behaviours: []Behaviour{{When: Match{MaxSDK: 29}, Outcome: OutcomeError, Exception: "java.lang.SecurityException"}}},
	}}}
	for _, d := range f.Devices() {
		installManifest(t, d, Manifest{Package: "com.x"})
		installManifest(t, d, m)
	}
	comp := "com.x.test/androidx.test.runner.AndroidJUnitRunner"
	t.Run("flaky fails sometimes, not always", func(t *testing.T) {
		d := f.Devices()[0]
		fails := 0
		for i := 0; i < 40; i++ {
			out, _, _ := sh(d, "am instrument -w -r -e class a.A#flaky "+comp)
			if strings.Contains(out, "INSTRUMENTATION_STATUS_CODE: -2") {
				fails++
			}
		}
		if fails < 8 || fails > 32 {
			t.Errorf("flaky with p=0.5 failed %d of 40 runs", fails)
		}
	})
	t.Run("sdk-scoped error", func(t *testing.T) {
		for _, d := range f.Devices() {
			out, _, _ := sh(d, "am instrument -w -r -e class a.B#oldSdkOnly "+comp)
			sdk := d.Prop("ro.build.version.sdk")
			want := sdk <= "29"
			if got := strings.Contains(out, "INSTRUMENTATION_STATUS_CODE: -1\n") && strings.Contains(out, "java.lang.SecurityException"); got != want {
				t.Errorf("%s sdk %s: error=%v", d.inst.Model.ID, sdk, got)
			}
		}
	})
	t.Run("shards partition the tests", func(t *testing.T) {
		d := f.Devices()[1]
		seen := map[string]int{}
		for i := 0; i < 3; i++ {
			out, _, _ := sh(d, "am instrument -w -r -e numShards 3 -e shardIndex "+string(rune('0'+i))+" "+comp)
			for _, l := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(l, "INSTRUMENTATION_STATUS: test="); ok {
					seen[v]++
				}
			}
		}
		if len(seen) != 5 {
			t.Errorf("shards covered %v", seen)
		}
		for k, n := range seen {
			if n != 2 { // each test reports a start and an end status
				t.Errorf("%s seen %d times across shards", k, n)
			}
		}
	})
	t.Run("log-only run lists tests quickly", func(t *testing.T) {
		out, _, code := sh(f.Devices()[2], "am instrument -w -r -e log true "+comp)
		if code != 0 || !strings.Contains(out, "OK (5 tests)") {
			t.Errorf("log run: %d\n%s", code, out)
		}
	})
	t.Run("faults by os and model", func(t *testing.T) {
		for _, d := range f.Devices() {
			out, _, _ := sh(d, "dumpsys battery")
			low := strings.Contains(out, "  level: 4\n") && strings.Contains(out, "USB powered: false")
			if low != (d.inst.OSVersion == "10") {
				t.Errorf("%s Android %s: low battery = %v", d.inst.Model.ID, d.inst.OSVersion, low)
			}
			hot := strings.Contains(out, "temperature: 480")
			if hot != (d.inst.Model.ID == "pixel-7") {
				t.Errorf("%s: hot = %v", d.inst.Model.ID, hot)
			}
		}
	})
	t.Run("weak devices run slower", func(t *testing.T) {
		// Durations scale with the fastest core's clock: a 1.8 GHz moto g play is slower
		// than a 3.36 GHz Galaxy S23 for the same test.
		var fast, slow *Device
		for _, d := range f.Devices() {
			switch d.inst.Model.ID {
			case "galaxy-s23":
				fast = d
			case "moto-g-play-2021":
				slow = d
			}
		}
		pf := fast.plan(&m, map[string]string{"class": "a.A#two"})
		ps := slow.plan(&m, map[string]string{"class": "a.A#two"})
		if ps[0].duration < pf[0].duration*13/10 {
			t.Errorf("moto %v vs s23 %v", ps[0].duration, pf[0].duration)
		}
	})
	t.Run("shell grammar", func(t *testing.T) {
		d := f.Devices()[0]
		cases := []struct{ in, out string }{
			{`echo "a  b" 'c;d'`, "a  b c;d\n"},
			{`false || echo $?`, "1\n"},
			{`export X=1; exec echo ok 2>/dev/null`, "ok\n"},
			{`cat /sys/devices/system/cpu/possible`, "0-8\n"},
			{`getprop ro.build.version.release; getprop no.such`, "14\n\n"},
			{`echo -n x`, "x"},
		}
		for _, c := range cases {
			if out, _, _ := sh(d, c.in); out != c.out {
				t.Errorf("%s => %q want %q", c.in, out, c.out)
			}
		}
		if out, _, _ := sh(d, "cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq"); strings.Count(out, "\n") != 9 || !strings.Contains(out, "2910000") {
			t.Errorf("glob cat = %q", out)
		}
	})
}

// TestPushLimits: pushes beyond free storage fail like a full /data, and a large push keeps
// only a hash (the heap does not grow with the file).
func TestPushLimits(t *testing.T) {
	r := newRig(t, Config{Count: 1, Seed: "push"})
	r.connectAll()
	d := r.fleet.Devices()[0]
	r.waitState(d.Addr(), "device")
	c, err := gadb.NewClientWith("127.0.0.1", r.srv.Port)
	if err != nil {
		t.Fatal(err)
	}
	devs, _ := c.DeviceList()
	gd := devs[0]
	d.SetFreeStorageMB(8)
	err = gd.Push(io.LimitReader(zeros{}, 16<<20), "/data/local/tmp/huge.bin", time.Now())
	if err == nil || !strings.Contains(err.Error(), "No space left on device") {
		t.Fatalf("16 MB push onto 8 MB free: %v", err)
	}
	if _, _, ok := d.FileInfo("/data/local/tmp/huge.bin"); ok {
		t.Fatal("a failed push left a file")
	}
	d.SetFreeStorageMB(4 << 10)
	// Slow storage. The rig runs at TimeScale 0.01, so 0.2 MB/s of device time is 20 MB/s
	// of wall time: 2 MB must take at least ~100 ms.
	d.SetStorageSpeedMBps(0.2)
	t0 := time.Now()
	if err := gd.Push(io.LimitReader(zeros{}, 2<<20), "/data/local/tmp/slow.bin", time.Now()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el < 90*time.Millisecond {
		t.Errorf("2 MB onto 20 MB/s storage took %v", el)
	}
	d.SetStorageSpeedMBps(0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const size = 192 << 20
	if err := gd.Push(io.LimitReader(zeros{}, size), "/data/local/tmp/big.bin", time.Now()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n, _, _ := d.FileInfo("/data/local/tmp/big.bin"); n != size {
		t.Fatalf("size %d", n)
	}
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 16<<20 {
		t.Errorf("heap grew %d MB for a %d MB push", grow>>20, size>>20)
	}
	if err := r.adb("-s", d.Addr(), "shell", "echo", "still up"); err.stdout != "still up\n" {
		t.Errorf("after pushes: %+v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
