package adbd

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/electricbubble/gadb"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

// TestGadb drives the simulator through gadb and the real adb server.
func TestGadb(t *testing.T) {
	r := newRig(t, Config{Count: 3, Seed: "gadbtest"})
	r.connectAll()
	for _, d := range r.fleet.Devices() {
		r.waitState(d.Addr(), "device")
	}
	c, err := gadb.NewClientWith("127.0.0.1", r.srv.Port)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := c.DeviceList()
	if err != nil || len(devs) != 3 {
		t.Fatalf("DeviceList = %d devices, %v", len(devs), err)
	}
	for _, gd := range devs {
		sim := r.fleet.Device(gd.Serial())
		if sim == nil {
			t.Fatalf("gadb lists unknown serial %s", gd.Serial())
		}
		if m, _ := gd.Model(); m != sanitize(sim.Prop("ro.product.model")) {
			t.Errorf("%s: model attr %q", gd.Serial(), m)
		}
		out, err := gd.RunShellCommand("getprop", "ro.build.version.release")
		if err != nil || strings.TrimSpace(out) != sim.Instance().OSVersion {
			t.Errorf("%s: getprop = %q, %v", gd.Serial(), out, err)
		}
		payload := bytes.Repeat([]byte{0xA5, 0x5A, 0x00, 0xFF}, 40000) // 160 KB: several DATA chunks
		if err := gd.Push(bytes.NewReader(payload), "/data/local/tmp/blob.bin", time.Now()); err != nil {
			t.Fatalf("push: %v", err)
		}
		if size, _, ok := sim.FileInfo("/data/local/tmp/blob.bin"); !ok || size != int64(len(payload)) {
			t.Errorf("pushed size %d ok %v", size, ok)
		}
		if err := gd.Push(strings.NewReader("k=v\n"), "/data/local/tmp/a.conf", time.Now()); err != nil {
			t.Fatal(err)
		}
		var back bytes.Buffer
		if err := gd.Pull("/data/local/tmp/a.conf", &back); err != nil || back.String() != "k=v\n" {
			t.Errorf("pull = %q, %v", back.String(), err)
		}
		ents, err := gd.List("/data/local/tmp")
		names := map[string]uint32{}
		for _, e := range ents {
			names[e.Name] = e.Size
		}
		if err != nil || names["blob.bin"] != uint32(len(payload)) || names["a.conf"] != 4 {
			t.Errorf("List = %v, %v", names, err)
		}
	}
}

// Test200Devices: 200 devices behind one real adb server, all connected and queried at once.
func Test200Devices(t *testing.T) {
	start := time.Now()
	r := newRig(t, Config{Count: 200, Seed: "t200"})
	r.connectAll()
	connected := time.Since(start)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := adbserver.Query(context.Background(), r.srv.Addr, "host:devices")
		if err == nil && strings.Count(out, "\tdevice\n") == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 200 devices online:\n%.600s", strings.Count(out, "\tdevice\n"), out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := gadb.NewClientWith("127.0.0.1", r.srv.Port)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := c.DeviceList()
	if err != nil || len(devs) != 200 {
		t.Fatalf("DeviceList = %d, %v", len(devs), err)
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for _, gd := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := gd.RunShellCommand("getprop ro.product.model")
			if err != nil || strings.TrimSpace(out) != r.fleet.Device(gd.Serial()).Prop("ro.product.model") {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of 200 concurrent getprops failed", bad.Load())
	}
	t.Logf("200 devices: connected in %v, all queried by %v", connected, time.Since(start))
}
