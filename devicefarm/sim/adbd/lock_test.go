package adbd

import (
	"context"
	"testing"
	"time"
)

// TestNoStreamWriteUnderDeviceLock: a service whose output the host has not yet
// acknowledged (one outstanding WRTE per direction) must not stop the device from opening
// other streams on the same transport, nor Fleet.Shutdown from finishing. Each command
// here used to write while holding the device mutex, which the transport's read loop needs
// to look up the next OPEN: the OKAY that would free the writer sat behind that OPEN.
func TestNoStreamWriteUnderDeviceLock(t *testing.T) {
	for _, svc := range []string{
		"shell:dumpsys battery",
		"shell:dumpsys thermalservice",
		"shell:dumpsys dropbox --print",
		"shell:settings get global http_proxy",
		"reverse:list-forward",
		"reverse:forward:tcp:9000;tcp:9001",
	} {
		t.Run(svc, func(t *testing.T) {
			f, err := NewFleet(Config{Count: 1, Seed: "lock", TimeScale: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.Shutdown(context.Background()) })
			r := dialRaw(t, f.Devices()[0])
			r.connect()
			r.send(cmdOPEN, 1, 0, []byte(svc+"\x00"))
			if h, _, err := r.recv(); err != nil || h.cmd != cmdOKAY {
				t.Fatalf("open %s: %s %v", svc, cmdName(h.cmd), err)
			}
			if h, _, err := r.recv(); err != nil || h.cmd != cmdWRTE {
				t.Fatalf("%s: want its output, got %s %v", svc, cmdName(h.cmd), err)
			}
			// Withhold the OKAY for that WRTE (as adb does while its client is not reading)
			// and open a second stream: the device must answer it.
			r.send(cmdOPEN, 2, 0, []byte("shell:echo second\x00"))
			for {
				h, _, err := r.recv()
				if err != nil {
					t.Fatalf("%s: second OPEN never answered while the first stream's WRTE is unacknowledged: %v", svc, err)
				}
				if h.cmd == cmdOKAY && h.arg1 == 2 {
					break
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			if err := f.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown with a stream write blocked on the host: %v after %v", err, time.Since(start))
			}
		})
	}
}
