package usbmux_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielpaulus/go-ios/ios"
	"github.com/danielpaulus/go-ios/ios/golog"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux/ipa"
)

func quietGoIOS() {
	golog.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func listN(b *testing.B, n int) time.Duration {
	startSim(b, n, nil)
	start := time.Now()
	const rounds = 50
	for i := 0; i < rounds; i++ {
		l, err := ios.ListDevices()
		if err != nil || len(l.DeviceList) != n {
			b.Fatalf("ListDevices: %d %v", len(l.DeviceList), err)
		}
	}
	return time.Since(start) / rounds
}

// BenchmarkList200 times go-ios ListDevices on 200 devices against the same call on 1 device.
func BenchmarkList200(b *testing.B) {
	quietGoIOS()
	var one, many time.Duration
	for i := 0; i < b.N; i++ {
		one = listN(b, 1)
		many = listN(b, 200)
	}
	b.ReportMetric(float64(many.Microseconds()), "us/list200")
	b.ReportMetric(float64(one.Microseconds()), "us/list1_baseline")
	b.ReportMetric(float64(many)/float64(one), "x_vs_1_device")
}

func getValuesAll(b *testing.B, list []ios.DeviceEntry, workers int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for _, e := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func(e ios.DeviceEntry) {
			defer wg.Done()
			defer func() { <-sem }()
			if v, err := ios.GetValues(e); err != nil || v.Value.ProductType == "" {
				b.Errorf("GetValues %s: %v", e.Properties.SerialNumber, err)
			}
		}(e)
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkGetValues200 reads all lockdown values (session + TLS) of 200 devices with 16
// workers; the baseline is the same work done one device at a time in the same run.
func BenchmarkGetValues200(b *testing.B) {
	quietGoIOS()
	startSim(b, 200, nil)
	l, err := ios.ListDevices()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var seq, par time.Duration
	for i := 0; i < b.N; i++ {
		seq = getValuesAll(b, l.DeviceList, 1)
		par = getValuesAll(b, l.DeviceList, 16)
	}
	b.ReportMetric(par.Seconds()*1000, "ms/200dev_parallel")
	b.ReportMetric(seq.Seconds()*1000, "ms/200dev_sequential_baseline")
	b.ReportMetric(float64(seq)/float64(par), "x_speedup")
	b.ReportMetric(200/par.Seconds(), "devices/s")
}

// rawSocketCopy moves size bytes through a Unix socket pair: the floor any install is bound by.
func rawSocketCopy(b *testing.B, size int64) time.Duration {
	p := filepath.Join(b.TempDir(), "raw.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}()
	c, err := net.Dial("unix", p)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	start := time.Now()
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := c.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-done
	return time.Since(start)
}

// BenchmarkInstall20MB200 installs a 20 MB .ipa on 200 devices through go-ios zip conduit,
// 8 at a time, against pushing the same bytes through a bare Unix socket.
func BenchmarkInstall20MB200(b *testing.B) {
	quietGoIOS()
	srv := startSim(b, 200, nil)
	p := filepath.Join(b.TempDir(), "big.ipa")
	if err := ipa.Write(p, ipa.Spec{BundleID: "com.fleetlens.big", Name: "Big", Size: 20 << 20}); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(p)
	l, err := ios.ListDevices()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var el, raw time.Duration
	for i := 0; i < b.N; i++ {
		raw = rawSocketCopy(b, fi.Size()*int64(len(l.DeviceList)))
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, e := range l.DeviceList {
			wg.Add(1)
			sem <- struct{}{}
			go func(e ios.DeviceEntry) {
				defer wg.Done()
				defer func() { <-sem }()
				if err := installGoIOS(e, p); err != nil {
					b.Errorf("install on %s: %v", e.Properties.SerialNumber, err)
				}
			}(e)
		}
		wg.Wait()
		el = time.Since(start)
	}
	for _, d := range srv.Devices() {
		if len(d.Apps()) != 1 {
			b.Fatalf("%s: apps %v", d.UDID(), d.Apps())
		}
	}
	mb := float64(fi.Size()*int64(len(l.DeviceList))) / 1e6
	b.ReportMetric(el.Seconds(), "s/200_installs")
	b.ReportMetric(mb/el.Seconds(), "MB/s")
	b.ReportMetric(mb/raw.Seconds(), "MB/s_raw_socket_baseline")
	b.ReportMetric(float64(el)/float64(raw), "x_raw_socket_time")
}

// BenchmarkSimulatorRSS starts the simulator as its own process (this test binary re-executed)
// with 200 devices, drives a lockdown session on every one, and reads its resident memory;
// the baseline is the same process with 1 device.
func BenchmarkSimulatorRSS(b *testing.B) {
	quietGoIOS()
	var one, many float64
	for i := 0; i < b.N; i++ {
		one = childRSS(b, 1)
		many = childRSS(b, 200)
	}
	b.ReportMetric(many, "MB_rss_200dev")
	b.ReportMetric(one, "MB_rss_1dev_baseline")
	b.ReportMetric(many/one, "x_vs_1_device")
	b.ReportMetric((many-one)*1024/199, "KB_per_device")
}

func childRSS(b *testing.B, n int) float64 {
	sock := filepath.Join(b.TempDir(), "child.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLEETLENS_SIM_CHILD="+strconv.Itoa(n), "FLEETLENS_SIM_SOCKET="+sock)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
	}
	b.Setenv("USBMUXD_SOCKET_ADDRESS", "UNIX://"+sock)
	l, err := ios.ListDevices()
	if err != nil || len(l.DeviceList) != n {
		b.Fatalf("child list: %d %v", len(l.DeviceList), err)
	}
	getValuesAll(b, l.DeviceList, 16)
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// TestMain turns this test binary into the simulator process of BenchmarkSimulatorRSS when
// that benchmark re-executes it; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv("FLEETLENS_SIM_CHILD")); err == nil {
		srv, err := usbmux.NewServer(usbmux.Config{SocketPath: os.Getenv("FLEETLENS_SIM_SOCKET"), Count: n, Seed: "rss"})
		if err == nil {
			err = srv.Start(context.Background())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("ready")
		select {} // killed by the benchmark
	}
	os.Exit(m.Run())
}
