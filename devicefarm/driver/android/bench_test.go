package android

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

const benchDevices = 500

type benchRig struct {
	fleet       *adbd.Fleet
	srv         *adbserver.Server
	drv         *Driver
	dir         string
	connectTime time.Duration
	rawDialTime time.Duration
	simRSSBase  float64
}

var (
	benchOnce sync.Once
	bench     *benchRig
	benchErr  error
)

func closeBenchRig() {
	if bench != nil {
		bench.fleet.Shutdown(context.Background())
		bench.srv.Stop()
		os.RemoveAll(bench.dir)
	}
}

// rssMB reads VmRSS of a process from /proc.
func rssMB(pid string) float64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// getBenchRig starts 500 devices behind one private adb server and connects them all,
// timing the connect against raw TCP dials of the same listeners (the baseline).
func getBenchRig(b *testing.B) *benchRig {
	benchOnce.Do(func() {
		ctx := context.Background()
		dir, _ := os.MkdirTemp("", "fleetlens-bench")
		r := &benchRig{dir: dir, simRSSBase: rssMB("self")}
		r.fleet, benchErr = adbd.NewFleet(adbd.Config{Count: benchDevices, Seed: "bench", TimeScale: 0.01})
		if benchErr != nil {
			return
		}
		if benchErr = r.fleet.Start(ctx); benchErr != nil {
			return
		}
		if r.srv, benchErr = adbserver.StartPrivate(ctx, dir); benchErr != nil {
			return
		}
		if r.drv, benchErr = New(ctx, Config{ServerAddr: r.srv.Addr, NoStartServer: true}); benchErr != nil {
			return
		}
		t0 := time.Now()
		for _, d := range r.fleet.Devices() {
			c, err := net.Dial("tcp", d.Addr())
			if err != nil {
				benchErr = err
				return
			}
			c.Close()
		}
		r.rawDialTime = time.Since(t0)
		t0 = time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4) // as `fleetlens sim android --connect` does
		for _, d := range r.fleet.Devices() {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := r.drv.Connect(ctx, d.Addr()); err != nil {
					benchErr = err
				}
			}()
		}
		wg.Wait()
		for time.Since(t0) < time.Minute {
			out, _ := adbserver.Query(ctx, r.srv.Addr, "host:devices")
			if strings.Count(out, "\tdevice\n") == benchDevices {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.connectTime = time.Since(t0)
		bench = r
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func (r *benchRig) reportRSS(b *testing.B) {
	b.ReportMetric(rssMB(strconv.Itoa(r.srv.PID())), "adb_rss_MB")
	b.ReportMetric(rssMB("self")-r.simRSSBase, "sim_rss_MB")
}

// BenchmarkConnect500 reports the time to adb-connect 500 devices (all online) and its
// ratio to merely dialing their TCP listeners.
func BenchmarkConnect500(b *testing.B) {
	r := getBenchRig(b)
	for b.Loop() {
	}
	b.ReportMetric(r.connectTime.Seconds(), "connect_all_s")
	b.ReportMetric(float64(r.connectTime)/float64(r.rawDialTime), "x_raw_dial")
	r.reportRSS(b)
}

// BenchmarkDevicesList500: `host:devices-l` with 500 devices vs host:version (same server).
func BenchmarkDevicesList500(b *testing.B) {
	r := getBenchRig(b)
	ctx := context.Background()
	t0 := time.Now()
	const base = 200
	for i := 0; i < base; i++ {
		if _, err := adbserver.Version(ctx, r.srv.Addr); err != nil {
			b.Fatal(err)
		}
	}
	baseline := time.Since(t0) / base
	t0 = time.Now()
	n := 0
	for b.Loop() {
		devs, err := r.drv.List(ctx)
		if err != nil || len(devs) != benchDevices {
			b.Fatalf("List = %d, %v", len(devs), err)
		}
		n++
	}
	per := time.Since(t0) / time.Duration(n)
	b.ReportMetric(float64(per.Microseconds())/1000, "list_ms")
	b.ReportMetric(float64(per)/float64(baseline), "x_version")
}

// BenchmarkGetpropAll500: getprop on all 500 devices at once vs one getprop on one device.
func BenchmarkGetpropAll500(b *testing.B) {
	r := getBenchRig(b)
	ctx := context.Background()
	devs := r.fleet.Devices()
	t0 := time.Now()
	for i := 0; i < 20; i++ {
		if _, err := r.drv.Shell(ctx, devs[0].Addr(), "getprop ro.product.model"); err != nil {
			b.Fatal(err)
		}
	}
	single := time.Since(t0) / 20
	var total time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(devs))
		for _, d := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := r.drv.Shell(ctx, d.Addr(), "getprop ro.product.model")
				if err == nil && strings.TrimSpace(string(res.Stdout)) != d.Prop("ro.product.model") {
					err = fmt.Errorf("%s: %q", d.Addr(), res.Stdout)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		total += time.Since(t0)
		n++
	}
	per := total / time.Duration(n)
	b.ReportMetric(float64(per.Milliseconds()), "all_ms")
	b.ReportMetric(float64(per)/float64(single), "x_single_call")
	r.reportRSS(b)
}

// BenchmarkInstall5MB500: install a 5 MB APK on all 500 devices, 8 at a time, vs installing
// it on one device (ratio of wall time to 500 sequential single installs).
func BenchmarkInstall5MB500(b *testing.B) {
	r := getBenchRig(b)
	ctx := context.Background()
	apk := filepath.Join(r.dir, "big.apk")
	f, _ := os.Create(apk)
	if err := adbd.BuildAPK(f, adbd.Manifest{Package: "com.example.big", VersionName: "1"}, 5<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()
	devs := r.fleet.Devices()
	t0 := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := r.drv.Install(ctx, devs[0].Addr(), apk); err != nil {
			b.Fatal(err)
		}
	}
	single := time.Since(t0) / 3
	var total time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		var failed sync.Map
		for _, d := range devs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := r.drv.Install(ctx, d.Addr(), apk); err != nil {
					failed.Store(d.Addr(), err)
				}
			}()
		}
		wg.Wait()
		failed.Range(func(k, v any) bool { b.Fatalf("%v: %v", k, v); return false })
		total += time.Since(t0)
		n++
	}
	per := total / time.Duration(n)
	b.ReportMetric(per.Seconds(), "all_s")
	b.ReportMetric(float64(benchDevices*5)/per.Seconds(), "MB/s")
	b.ReportMetric(float64(per)/float64(single*benchDevices), "x_sequential")
	r.reportRSS(b)
}

// BenchmarkShellOverhead: driver.Shell (shell v2, exit code, context) vs raw gadb
// RunShellCommand on the same device, alternating call by call so both see the same load.
func BenchmarkShellOverhead(b *testing.B) {
	r := getBenchRig(b)
	ctx := context.Background()
	serial := r.fleet.Devices()[7].Addr()
	gd, err := r.drv.gadbDevice(ctx, serial)
	if err != nil {
		b.Fatal(err)
	}
	var drvT, rawT time.Duration
	n := 0
	for b.Loop() {
		for i := 0; i < 50; i++ {
			t0 := time.Now()
			if _, err := gd.RunShellCommand("echo hi"); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if res, err := r.drv.Shell(ctx, serial, "echo hi"); err != nil || res.ExitCode != 0 {
				b.Fatal(err)
			}
			drvT += time.Since(t1)
			rawT += t1.Sub(t0)
			n++
		}
	}
	b.ReportMetric(float64(drvT.Microseconds())/float64(n), "driver_us")
	b.ReportMetric(float64(rawT.Microseconds())/float64(n), "gadb_us")
	b.ReportMetric(float64(drvT)/float64(rawT), "x_gadb")
}
